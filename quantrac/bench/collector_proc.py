"""The collector as operators run it, `quantrac collector run --workers N|auto`, for the
benches: its own config file, data folder and sessions, waited for until every worker is
subscribed, stopped with SIGTERM (SIGKILL if it hangs)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from quantrac.bench import common

CLI = [sys.executable, "-c", "from quantrac.cli import main; main()"]


def write_config(path: Path, data_dir: Path, client_id: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[collector]\ndata_dir = "{data_dir}"\nsummary_interval_s = 5.0\n'
                    f'[sources.mqtt]\nclient_id = "{client_id}"\n'
                    "reconnect_min_s = 0.2\nreconnect_max_s = 1.0\n"
                    "[sinks.influxdb]\nretry_initial_s = 0.2\nretry_max_s = 2.0\n"
                    "timeout_s = 5.0\nflush_interval_s = 0.1\n[metrics]\ninterval_s = 1.0\n")
    return path


def worker_count(workers: str) -> int:
    from collector.workers.slicing import count_of, usable_count

    return usable_count("phu-quoc", count_of(workers))


@contextmanager
def collector_process(run_dir: Path, config: Path, log: Path, workers: str = "auto"
                      ) -> Iterator[subprocess.Popen]:
    """`collector run` until the block ends; yields once every worker is subscribed."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([*CLI, "collector", "run", "--run-dir", str(run_dir),
                                 "--config", str(config), "--workers", workers],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_connected(proc, log, worker_count(workers))
        yield proc
    finally:
        common.stop_processes([proc], 60)


def wait_connected(proc: subprocess.Popen, log: Path, n: int) -> None:
    """Until `log` (one per start) shows `n` subscribed sessions."""
    common.wait_for(lambda: proc.poll() is not None or
                    log.read_text().count("connected to") >= n,
                    "the collector's workers to subscribe")
    if proc.poll() is not None:
        raise common.BenchError(f"the collector exited: {log.read_text()[-2000:]}")


def first_connect(log: Path) -> float:
    """When the first worker connected (the log's clock), as a Unix time."""
    for line in log.read_text().splitlines():
        if "connected to" in line:
            return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    raise common.BenchError(f"no connection in {log}")
