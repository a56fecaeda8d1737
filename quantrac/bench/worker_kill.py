"""The reliability row "one worker of several SIGKILLed mid-stream": `quantrac collector run
--workers 2`, stations on both workers streaming; the database hangs (SIGSTOP) so the victim's
spool holds acknowledged readings it has not written, then worker 1 is SIGKILLed. The
supervisor starts it again, its session resumes (the broker redelivers what it had not
acknowledged) and its spool goes first; worker 0 never stops."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from pathlib import Path

import boards
from quantrac.bench import common
from quantrac.bench.collector_proc import collector_process, write_config
from quantrac.bench.stream import StationStream

WORKERS = 2


def stations() -> list[str]:
    """One air and one water station of each worker's slice."""
    from collector.workers.slicing import owner

    out = []
    for w in range(WORKERS):
        mine = [s for s in boards.registry("phu-quoc").ids() if owner(s, WORKERS) == w]
        out += [next(s for s in mine if s.startswith("pq-air")),
                next(s for s in mine if not s.startswith("pq-air"))]
    return out


def _workers(data: Path) -> list[dict]:
    try:
        return json.loads((data / "status.json").read_text()).get("workers", [])
    except (OSError, ValueError):
        return []


def worker_sigkill(env: dict, run: Path, folder: Path, t0: int, stream_s: float,
                   outage_s: float, influx_pid: int) -> dict:
    data = folder / "data"
    config = write_config(folder / "collector.toml", data, f"bench-wk-{uuid.uuid4().hex[:6]}")
    log = folder / "run.log"
    stream = StationStream(env, stations(), t0=t0)
    try:
        with collector_process(run, config, log, str(WORKERS)):
            stream.start()
            time.sleep(stream_s)
            common.wait_for(lambda: len(_workers(data)) == WORKERS and
                            all(w["pid"] for w in _workers(data)), "the workers' pids")
            victim = _workers(data)[1]["pid"]
            os.kill(influx_pid, signal.SIGSTOP)  # writes hang: the spools fill
            common.wait_for(lambda: "keeping" in log.read_text(), "a failed write")
            time.sleep(min(outage_s, 2))
            os.kill(victim, signal.SIGKILL)
            os.kill(influx_pid, signal.SIGCONT)
            common.wait_for(lambda: log.read_text().count("(session resumed)") >= 1,
                            "worker 1 to resume its session")
            time.sleep(stream_s)
            stream.stop()
            want, got = stream.expected(), {}

            def stored() -> bool:
                got.clear()
                got.update(common.counts(env, t0, stream.t_last))
                return all(got.get(k, 0) >= n for k, n in want.items())

            with contextlib.suppress(common.BenchError):  # what is missing is reported lost
                common.wait_for(stored, "every reading stored", 180)
            return {**common.compare(want, got),
                    "restarts": sum(w["restarts"] for w in _workers(data))}
    finally:
        os.kill(influx_pid, signal.SIGCONT)
        stream.stop()
