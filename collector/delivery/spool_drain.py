"""Spool → one sink, on its own thread: oldest readings first, and the sink's cursor moves only
after the sink has them (stored, or refused for good and dead-lettered).

A write the sink cannot take now is retried by the RunningSink with its back-off for as long as
it takes; meanwhile the worker keeps appending to the spool and acknowledging, so a database
outage of hours costs only disk. After each stored batch the listeners hear which (station,
param, hour) buckets it touched: the aggregate stage recomputes those, late records included.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from collector.contracts import Reading, touched_hours
from collector.delivery.running_sink import RunningSink
from collector.spool import Spool

log = logging.getLogger("quantrac.collector.drain")

StoredListener = Callable[[set[tuple[str, str, int]]], None]
IDLE_WAIT_S = 0.2


class SpoolDrain:
    def __init__(self, spool: Spool, sink: RunningSink, consumer: str = "influxdb", *,
                 batch_size: int = 5000, flush_interval_s: float = 0.5) -> None:
        self.spool, self.sink, self.consumer = spool, sink, consumer
        self.batch_size, self.flush_interval_s = batch_size, flush_interval_s
        self.listeners: list[StoredListener] = []
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"quantrac-drain-{self.consumer}",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Write what the spool holds for at most `timeout_s` more, then stop; the rest stays
        in the spool for the next start."""
        self._deadline = time.monotonic() + timeout_s
        self.sink.give_up_after(timeout_s)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not (self._stopping.is_set() and time.monotonic() >= self._deadline):
                if not self._once():
                    return
        except Exception:
            log.exception("%s: spool drain failed; the spool keeps the readings for the next "
                          "start", self.consumer)

    def _once(self) -> bool:
        """One read-write-advance round; False when it is time to stop."""
        stopping = self._stopping.is_set()
        readings, pos = self.spool.read(self.consumer, self.batch_size,
                                        timeout=0 if stopping else IDLE_WAIT_S)
        if not readings:
            if pos != self.spool.cursor(self.consumer):
                self.spool.advance(self.consumer, pos)  # past a segment end or damaged bytes
            return not stopping
        # Under light load, give the batch up to flush_interval_s to fill (fewer writes).
        fill_until = time.monotonic() + self.flush_interval_s
        while len(readings) < self.batch_size and not self._stopping.is_set():
            left = fill_until - time.monotonic()
            if left <= 0:
                break
            more, pos = self.spool.read(self.consumer, self.batch_size - len(readings),
                                        timeout=left, start=pos)
            readings.extend(more)
        self.sink.add(readings, lambda: None)
        if not self.sink.flush():
            return False  # stopping with the database still down: the spool keeps them
        self.spool.advance(self.consumer, pos, len(readings))
        touched = touched_hours([r for r in readings if isinstance(r, Reading)])
        for listener in list(self.listeners):
            try:
                listener(touched)
            except Exception:
                log.exception("%s: stored-listener failed", self.consumer)
        return True
