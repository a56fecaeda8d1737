"""The collector's only wiring: source → ingest loop (ingest_loop.py: bounded queue, batches,
processors in config order → dead letters + spool, fsync'd → ack) and spool → drain thread →
RunningSink → InfluxDB.

    broker ─paho─▶ queue ─worker─▶ validate ▶ units ▶ dedupe ▶ qc ─▶ spool (fsync) ─▶ ack
                                      │ rejected                        │
                                      ▼                                 ▼ drain thread
                          dead-letters.jsonl (fsync) ─▶ ack     RunningSink ─▶ InfluxDB

A message is acknowledged to the broker only once it is durable: its readings appended and
fsync'd to the spool, or the message itself written to the dead-letter file (one over
`max_payload_bytes` as a digest and its head). Until then, and while the spool or the dead
letters are full, the broker keeps it in the collector's persistent session. The drain writes
the spool to InfluxDB oldest first and moves its cursor only after the database has the
readings, so a database outage, a broker restart or a SIGKILL loses nothing, and a redelivered
reading overwrites itself (same series, same time) instead of adding a point.
"""

from __future__ import annotations

import logging
import time

from collector.config import Settings
from collector.dead_letter_store import DeadLetterStore
from collector.delivery.integrations import integrations, spool_consumers
from collector.delivery.running_sink import RunningSink
from collector.delivery.spool_drain import SpoolDrain, StoredListener
from collector.ingest_loop import IngestLoop
from collector.metrics import Metrics
from collector.spool import Listener, Spool
from collector.stages import alert_outputs, influx_sink, mqtt_source, processors
from collector.state_store import StateStore
from collector.workers.slicing import Slice

log = logging.getLogger("quantrac.collector")


class Collector:
    """`start()`, `stop()`, `stats` (a snapshot, see `Metrics.snapshot`); hooks:
    `add_stored_listener(fn(touched))`, `add_spool_listener(fn(spool_stats))`. With `slice_`
    (one worker of several) every part with an `own(stations, leader)` hook is told which
    stations are this process's, before anything starts."""

    def __init__(self, settings: Settings, slice_: Slice | None = None) -> None:
        self.settings = settings
        self.slice = slice_  # a worker of several: its stations (workers/slicing.py)
        self.metrics = Metrics()
        self.processors = processors(settings)
        sp = settings.spool
        self.spool = Spool(settings.spool_dir, max_bytes=sp.max_bytes,
                           segment_bytes=sp.segment_bytes, high_water=sp.high_water,
                           consumers=spool_consumers(settings))
        try:
            c = settings.collector  # after the spool: its lock names the usual mistake
            self.dead_letters = DeadLetterStore(settings.dead_letters, c.dead_letters_max_bytes,
                                                c.max_payload_bytes)
            self.state = StateStore(settings.state_file)
            self._restore()
            self.source = mqtt_source(settings, self.metrics)
            opts = settings.influxdb
            self.sink = RunningSink(influx_sink(settings), self.dead_letters, self.metrics,
                                    batch_size=opts.batch_size,
                                    retry_initial_s=opts.retry_initial_s,
                                    retry_max_s=opts.retry_max_s)
        except BaseException:
            self.spool.close()
            if hasattr(self, "dead_letters"):
                self.dead_letters.close()
            raise
        self.drain = SpoolDrain(self.spool, self.sink, batch_size=opts.batch_size,
                                flush_interval_s=opts.flush_interval_s)
        self._closed = False
        self.outputs = integrations(settings, alert_outputs(settings), self.spool)  # camera, e-gov
        self.exporter = settings.build("metrics", self)
        if slice_ is not None:  # parts that look at every station look at this worker's only
            for part in (*self.processors, self.outputs):
                own = getattr(part, "own", None)
                if own is not None:
                    own(slice_.stations, slice_.leader)
        self.loop = IngestLoop(self)
        pending = self.spool.pending_bytes("influxdb")
        if pending:
            log.info("spool: %d bytes from an earlier run not yet in the database; writing "
                     "them first", pending)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self.loop.started:
            raise RuntimeError("collector already started (a stopped one cannot restart)")
        self.loop.start()
        self.drain.start()
        self.outputs.start()
        self.exporter.start()
        self.source.start(self.loop.emit)
        wait = self.settings.mqtt.connect_wait_s
        if wait and not self.wait_ready(wait):
            log.warning("not subscribed to %s:%s after %.0f s; still trying in the background",
                        self.settings.mqtt_host, self.settings.mqtt_port, wait)

    def wait_ready(self, timeout: float) -> bool:
        """True once the broker has confirmed the subscriptions."""
        waiter = getattr(self.source, "wait_subscribed", None)
        return bool(waiter(timeout)) if waiter else True

    def stop(self) -> None:
        """Spool and ack what has arrived, then write the spool for at most stop_timeout_s;
        what is left stays in the spool (already acknowledged) for the next start."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.settings.collector.stop_timeout_s
        started = self.loop.started
        self.loop.stop(deadline)  # later messages stay unacked with the broker for next time
        if started:
            self.source.stop()
        self.save_state()
        for p in self.processors:
            try:
                getattr(p, "close", lambda: None)()
            except Exception:  # one stage's cleanup must not keep the rest open
                log.exception("%s: close failed", p.name)
        self.exporter.stop()
        self.outputs.stop(max(1.0, deadline - time.monotonic()))
        self.drain.stop(max(0.0, deadline - time.monotonic()))
        self.sink.sink.close()
        self.spool.close()
        self.dead_letters.close()
        log.info("collector stopped: %s", self.metrics.snapshot()["totals"])

    @property
    def running(self) -> bool:
        return self.loop.alive and self.drain.running

    @property
    def stats(self) -> dict:
        snap = self.metrics.snapshot()
        snap["running"] = self.running
        snap["queued"] = self.loop.queued
        snap["buffered"] = self.sink.buffered
        snap["spool"] = self.spool.stats()
        snap["dead_letters"] = self.dead_letters.stats()
        return snap

    def add_stored_listener(self, listener: StoredListener) -> None:
        """`listener(touched)` after each database write, from the drain thread: the set of
        (station, param, hour start) buckets the written readings fall in."""
        self.drain.listeners.append(listener)

    def add_spool_listener(self, listener: Listener) -> None:
        """`listener(spool_stats)` when the spool crosses its high-water mark, either way."""
        self.spool.add_listener(listener)

    def _restore(self) -> None:
        saved = self.state.load()
        for p in self.processors:
            restore = getattr(p, "restore", None)
            if restore is not None and p.name in saved:
                restore(saved[p.name])

    def save_state(self) -> None:
        """The processors' state to `state.json` (from the loop thread, or after it ended)."""
        try:
            states = {p.name: p.state() for p in self.processors if hasattr(p, "state")}
            if states:
                self.state.save(states)
        except Exception as e:  # stale state costs QC history and duplicate counts, not data
            log.error("could not save processor state to %s: %s", self.state.path, e)
