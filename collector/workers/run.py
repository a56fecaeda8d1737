"""One collector process until SIGINT/SIGTERM: `quantrac collector run` with one worker, and
each worker of several (worker.py)."""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from typing import Any

from collector.workers.slicing import Slice

log = logging.getLogger("quantrac.collector")
# Python's cyclic collector runs a young-generation pass every 700 new container objects: a
# batch makes tens of thousands (readings, points, their dicts), so at the default it ran over a
# thousand passes per 20,000 messages, each walking whatever was alive, and its full passes walked
# the chain's whole state (QC history, aggregate windows): ~13 % of a worker's time. The
# pipeline's objects are freed by reference counting (they form no cycles), so the passes found
# almost nothing. After start-up the state is frozen out of the collector's reach and passes run
# every 100,000 objects; cycles (there are few) are still collected.
GC_THRESHOLDS = (100_000, 20, 10)


def run_collector(settings: Any, slice_: Slice | None = None) -> None:
    """Run one collector until a signal (or its ingest loop dies: exit status 1)."""
    from collector.metrics import summary
    from collector.pipeline import Collector

    log.info("quantrac collector starting%s; effective config:",
             f" (worker {slice_.index} of {slice_.count}, {len(slice_.stations)} stations)"
             if slice_ else "")
    for line in settings.describe():
        log.info("  %s", line)
    c = Collector(settings, slice_)  # opens (locks) the spool: SpoolError when another holds it
    gc.freeze()  # what start-up built (modules, restored state) is never collected again
    gc.set_threshold(*GC_THRESHOLDS)
    done = threading.Event()

    def _signal(signum, frame) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        done.set()

    old = {s: signal.signal(s, _signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        c.start()
        interval = settings.collector.summary_interval_s
        next_summary = time.monotonic() + interval
        while not done.wait(min(1.0, max(0.0, next_summary - time.monotonic()))):
            if not c.running:
                log.error("collector worker ended unexpectedly; exiting")
                break
            if time.monotonic() >= next_summary:
                log.info("summary: %s", summary(c.stats))
                next_summary += interval
    finally:
        c.stop()
        log.info("final: %s", summary(c.stats))
        for s, handler in old.items():
            signal.signal(s, handler)
    if not done.is_set():
        raise SystemExit(1)


def setup_logging(level: str, log_file: Any) -> list[logging.Handler]:
    """Log to stderr and `log_file`; the handlers, for the caller to remove when it ends."""
    from pathlib import Path

    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    handlers = [logging.StreamHandler(), logging.FileHandler(log_file, encoding="utf-8")]
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    return handlers
