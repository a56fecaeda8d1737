"""`quantrac collector run --workers N` (N > 1): N worker processes, each owning a slice of the
stations, started, watched and stopped by this process, which holds no MQTT session itself.

A worker that exits or is killed is started again after a back-off (1 s doubling to 30 s,
back to 1 s once it ran a minute); its persistent session resumes, so the broker delivers
what it had not acknowledged. SIGTERM/SIGINT are passed on and each worker stops as
`collector run` does (what arrived is spooled and acked, the spool written for at most
stop_timeout_s). Every `[metrics] interval_s` the workers' status files are merged into
`<data_dir>/status.json`, which the metrics endpoint (`[metrics] listen`) serves.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import collector
from collector.metrics_export import Exporter, write_status
from collector.workers import status
from collector.workers.slicing import slice_of, worker_dir
from collector.workers.worker import CONFIG_EXIT

log = logging.getLogger("quantrac.collector.supervisor")
BACKOFF_MIN_S, BACKOFF_MAX_S, STEADY_S = 1.0, 30.0, 60.0
STOP_GRACE_S = 15.0  # beyond stop_timeout_s, before a worker that will not stop is killed


class _Worker:
    def __init__(self, index: int, stations: int) -> None:
        self.index, self.stations = index, stations
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.restarts = 0
        self.backoff = BACKOFF_MIN_S
        self.restart_at: float | None = None


class Supervisor:
    def __init__(self, settings: Any, run_dir: Path, config_file: str | None, count: int,
                 log_level: str = "INFO") -> None:
        self.settings, self.run_dir, self.config_file = settings, Path(run_dir), config_file
        self.count, self.log_level = count, log_level
        reg = settings.collector.registry
        self.workers = [_Worker(i, len(slice_of(reg, i, count).stations)) for i in range(count)]
        self.done = threading.Event()
        m = settings.metrics
        self.exporter = Exporter(None, m.listen, m.interval_s, influx=False)
        self.status_file = settings.data_dir / "status.json"
        self._next_status = 0.0

    def argv(self, index: int) -> list[str]:
        out = [sys.executable, "-m", "collector.workers.worker", "--index", str(index),
               "--count", str(self.count), "--run-dir", str(self.run_dir),
               "--log-level", self.log_level]
        return out + (["--config", str(self.config_file)] if self.config_file else [])

    def run(self) -> int:
        """Until a signal (0), or a worker refuses its settings (2)."""
        old = {s: signal.signal(s, lambda n, f: self.done.set())
               for s in (signal.SIGINT, signal.SIGTERM)}
        self.exporter.start()
        code = 0
        try:
            for w in self.workers:
                self._start(w)
            while not self.done.wait(0.2):
                code = self._watch()
                if code:
                    break
                self._status()
        finally:
            self._stop_all()
            self._status(force=True)
            self.exporter.stop()
            for s, handler in old.items():
                signal.signal(s, handler)
        return code

    def _start(self, w: _Worker) -> None:
        env = dict(os.environ)  # the workers import this checkout's code, whatever the cwd
        root = str(Path(collector.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        w.proc = subprocess.Popen(self.argv(w.index), env=env, preexec_fn=_die_with_parent)
        w.started, w.restart_at = time.monotonic(), None
        log.info("worker %d of %d (%d stations) started, pid %d", w.index, self.count,
                 w.stations, w.proc.pid)

    def _watch(self) -> int:
        now = time.monotonic()
        for w in self.workers:
            if w.proc is not None and (rc := w.proc.poll()) is not None:
                w.proc = None
                if rc == CONFIG_EXIT:
                    log.error("worker %d refused its settings (see worker-%d.log); stopping",
                              w.index, w.index)
                    return CONFIG_EXIT
                if now - w.started >= STEADY_S:
                    w.backoff = BACKOFF_MIN_S
                w.restart_at = now + w.backoff
                log.error("worker %d ended (exit status %s); restarting in %.0f s", w.index, rc,
                          w.backoff)
                w.backoff = min(BACKOFF_MAX_S, w.backoff * 2)
            if w.proc is None and w.restart_at is not None and now >= w.restart_at:
                w.restarts += 1
                self._start(w)
        return 0

    def _stop_all(self) -> None:
        live = [w.proc for w in self.workers if w.proc is not None and w.proc.poll() is None]
        for p in live:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.collector.stop_timeout_s + STOP_GRACE_S
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker pid %d did not stop; killing it", p.pid)
                p.kill()
                p.wait()
        log.info("all %d workers stopped", self.count)

    def _status(self, force: bool = False) -> None:
        now = time.time()
        if not force and now < self._next_status:
            return
        self._next_status = now + self.settings.metrics.interval_s
        docs = [status.read(worker_dir(self.settings.data_dir, w.index) / "status.json")
                for w in self.workers]
        rows = [status.worker_row(w.index, w.proc.pid if w.proc else None,
                                  w.proc is not None and w.proc.poll() is None, w.restarts,
                                  w.stations, d) for w, d in zip(self.workers, docs, strict=True)]
        doc = status.merge(docs, rows, now, self.settings.metrics.interval_s, os.getpid())
        doc["metrics_url"] = self.exporter.url
        self.exporter.doc = doc
        try:
            write_status(self.status_file, doc)
        except OSError as e:
            log.warning("status file %s not written: %s", self.status_file, e)


def _die_with_parent() -> None:
    """A worker must not outlive a supervisor killed without a chance to stop it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
