"""The collector's only wiring: source → bounded queue → worker (processors in config order →
dead letters + spool, fsync'd → ack) and spool → drain thread → RunningSink → InfluxDB.

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

import json
import logging
import queue
import threading
import time
from collections.abc import Callable

from collector.config import Settings
from collector.contracts import Batch, Envelope, Rejected, topic_parts
from collector.dead_letter_store import DeadLettersFull, DeadLetterStore
from collector.drain import SpoolDrain, StoredListener
from collector.integrations import integrations, spool_consumers
from collector.metrics import Metrics
from collector.processors.validate.plugin import oversized
from collector.running_sink import RunningSink
from collector.spool import Listener, Spool, SpoolError, SpoolFull
from collector.stages import alert_outputs, influx_sink, mqtt_source, processors
from collector.state_store import StateStore

log = logging.getLogger("quantrac.collector")
WORKER_BATCH = 1000  # envelopes per spool append (one fsync); also bounded by payload bytes
BATCH_WAIT_S, RETRY_APPEND_S = 0.05, 1.0  # the wait fills batches under load (else ~40)
TICK_S = 1.0  # how often time-driven work (offline alerts, self-metrics) is looked at


class Collector:
    """`start()`, `stop()`, `stats` (a snapshot, see `Metrics.snapshot`); hooks:
    `add_stored_listener(fn(touched))`, `add_spool_listener(fn(spool_stats))`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
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
        self._queue: queue.Queue[Envelope] = queue.Queue(maxsize=settings.collector.queue_size)
        self._accepting = False
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._worker: threading.Thread | None = None
        self._held: list[Envelope] = []  # a batch waiting for dead-letter room, unacked
        self._waiting = False
        self._closed = False
        self._last_save = time.monotonic()
        self._batch_bytes = max(1 << 16, sp.segment_bytes // 16)
        self.outputs = integrations(settings, alert_outputs(settings), self.spool)  # camera, e-gov
        self.exporter = settings.build("metrics", self)
        self._next_tick = 0.0
        pending = self.spool.pending_bytes("influxdb")
        if pending:
            log.info("spool: %d bytes from an earlier run not yet in the database; writing "
                     "them first", pending)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError("collector already started (a stopped one cannot restart)")
        self._accepting = True
        self._worker = threading.Thread(target=self._run, name="quantrac-collector", daemon=True)
        self._worker.start()
        self.drain.start()
        self.outputs.start()
        self.exporter.start()
        self.source.start(self._emit)
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
        self._accepting = False  # later messages stay unacked with the broker for next time
        timeout = self.settings.collector.stop_timeout_s
        self._deadline = time.monotonic() + timeout
        self._stopping.set()
        if self._worker is not None:
            self._worker.join()
            self.source.stop()
        self._save_state()
        for p in self.processors:
            try:
                getattr(p, "close", lambda: None)()
            except Exception:  # one stage's cleanup must not keep the rest open
                log.exception("%s: close failed", p.name)
        self.exporter.stop()
        self.outputs.stop(max(1.0, self._deadline - time.monotonic()))
        self.drain.stop(max(0.0, self._deadline - time.monotonic()))
        self.sink.sink.close()
        self.spool.close()
        self.dead_letters.close()
        log.info("collector stopped: %s", self.metrics.snapshot()["totals"])

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive() and self.drain.running

    @property
    def stats(self) -> dict:
        snap = self.metrics.snapshot()
        snap["running"] = self.running
        snap["queued"] = self._queue.qsize()
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

    # -- source thread ---------------------------------------------------------------------

    def _emit(self, env: Envelope) -> None:
        warned = False
        while self._accepting:
            try:
                self._queue.put(env, timeout=0.5)
                return
            except queue.Full:
                if not warned:
                    log.warning("queue full (%d messages): holding the broker back",
                                self._queue.maxsize)
                    warned = True

    # -- worker thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._tick()
            if self._dead_letters_full():
                if self._stopping.is_set():
                    return  # what is held or queued stays with the broker
                self._stopping.wait(RETRY_APPEND_S)
                continue
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            envs, size = [first], len(first.payload)  # under load: fill it; a lone one goes now
            until = time.monotonic() + (BATCH_WAIT_S if self._queue.qsize() else 0.0)
            while len(envs) < WORKER_BATCH and size < self._batch_bytes:
                try:
                    envs.append(self._queue.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
                size += len(envs[-1].payload)
            self._safely(self._handle, envs)

    def _dead_letters_full(self) -> bool:
        """True while the dead-letter store has no room: nothing is acknowledged meanwhile.
        Once it has, the batch that found it full goes first."""
        if not (self._held or self.dead_letters.full):
            return False
        if not self.dead_letters.room():
            if not self._waiting:
                self._waiting = True
                log.error("dead letters full: no longer acknowledging; the broker keeps the "
                          "messages until `quantrac collector dead-letters replay` or "
                          "`discard` makes room")
            return True
        self._waiting = False
        log.info("dead letters have room again; acknowledging resumes")
        held, self._held = self._held, []
        self._safely(self._handle_data, held)
        return False

    def _safely(self, handle: Callable[[list[Envelope]], None], envs: list[Envelope]) -> None:
        try:
            handle(envs)
        except Exception:  # a bug here must not stop collection; the batch stays unacked
            log.exception("could not handle %d messages; left unacknowledged", len(envs))

    def _handle(self, envs: list[Envelope]) -> None:
        data: list[Envelope] = []
        control: list[Envelope] = []
        limit = self.settings.collector.max_payload_bytes
        for env in envs:
            parts = topic_parts(env.topic)
            kind = parts[1] if parts else "other"
            self.metrics.received(parts[0] if parts else None, kind)
            if kind in ("status", "event") and len(env.payload) <= limit:
                self._note(parts[0], kind, env)
                control.append(env)
            else:
                data.append(env)  # `validate` refuses what is not a station data topic
        self._handle_control(control)
        if data:
            self._handle_data(data)

    def _handle_data(self, data: list[Envelope]) -> None:
        """Data messages, and any message over max_payload_bytes: refused by its length
        before anything decodes it, kept in dead letters as a digest and its first bytes."""
        big = [oversized(env, self.settings.collector.max_payload_bytes) for env in data]
        small = [env for env, r in zip(data, big, strict=True) if r is None]
        batch, processed = self._process(small) if small else (Batch([]), True)
        batch.rejected[:0] = [r for r in big if r is not None]
        to_ack, refused_ok = data, [r.envelope for r in batch.rejected]
        if batch.rejected:
            try:
                self.dead_letters.add(batch.rejected)
            except DeadLettersFull as e:  # logged by the store. What went in is acked; the
                kept = batch.rejected[:e.written]  # rest waits, unacked, remembered nowhere
                self._rejected(kept)
                self._held = _without(data, kept)
                self._ack([r.envelope for r in kept])
                return
            except OSError as e:
                log.error("dead-letter file %s not writable (%s): %d rejected messages stay "
                          "unacknowledged", self.dead_letters.path, e, len(batch.rejected))
                to_ack, refused_ok = _without(data, batch.rejected), []
            self._rejected(batch.rejected)
        if not self._append(batch):
            # stopping before the spool took it: only the dead-lettered messages are acked,
            # the rest stays with the broker and nothing of it is remembered
            self._ack(refused_ok)
            return
        for p in self.processors if processed else ():  # a failed chain remembers nothing
            commit = getattr(p, "commit", None)
            if commit is not None:
                commit(batch)
        self.outputs.send(batch.points)
        self.metrics.duplicates(batch.duplicates)
        self.metrics.flagged(batch.readings)
        if time.monotonic() - self._last_save >= self.settings.collector.state_interval_s:
            self._save_state()
        self._ack(to_ack)

    def _rejected(self, rejected: list[Rejected]) -> None:
        for r in rejected:
            log.warning("rejected %s: %s", r.envelope.topic, r.reason)
            self.metrics.rejected(r.cls)

    def _handle_control(self, envs: list[Envelope]) -> None:
        """Status and events → `device` points (when that stage is in the chain), spooled
        before the ack like readings."""
        points = [pt for p in self.processors if p.name == "device"
                  for pt in p.process(Batch(envs)).points] if envs else []
        if not points or self._append(Batch([], points=points)):
            self._ack(envs)

    def _tick(self) -> None:
        """Between batches: what only time shows (a station gone silent, the spool filling)
        and the self-metrics; their points are spooled like a batch's."""
        now = time.time()
        if now < self._next_tick:
            return
        self._next_tick = now + TICK_S
        points, stats = [], self.stats
        for part in (*self.processors, self.exporter):
            tick = getattr(part, "tick", None)
            if tick is not None:
                try:
                    points += tick(now, stats)
                except Exception:
                    log.exception("%s: tick failed", getattr(part, "name", type(part).__name__))
        if points and self._append(Batch([], points=points)):
            self.outputs.send(points)

    def _process(self, data: list[Envelope]) -> tuple[Batch, bool]:
        """The processed batch and True; or, when a processor raised, every message refused
        (class `internal`, kept in dead letters for a replay after the fix) and False."""
        batch = Batch(data)
        for p in self.processors:
            try:
                batch = p.process(batch)
            except Exception as e:  # keep the input in dead letters rather than stall the stream
                name = getattr(p, "name", type(p).__name__)
                log.exception("processor %s failed on a batch of %d messages", name, len(data))
                return Batch(data, rejected=[Rejected(env, f"processor {name} failed: {e!r}",
                                                      "internal") for env in data]), False
        return batch, True

    def _append(self, batch: Batch) -> bool:
        """Spool the batch's readings durably, waiting while the spool is full; False when
        the collector stops first."""
        warned = False
        while True:
            needed = None  # bytes a full spool must free; None after a disk error
            try:
                self.spool.append([*batch.readings, *batch.points])
                if warned:
                    self.metrics.spool_full(False)
                    log.info("spool has room again; acknowledging resumes")
                return True
            except SpoolFull as e:
                if not warned:
                    self.metrics.spool_full(True)
                    log.error("%s: no longer acknowledging; the broker keeps the messages "
                              "until the database catches up", e)
                    warned = True
                needed = e.needed
            except SpoolError as e:
                log.error("%s; %d messages stay unacknowledged (raise [spool] max_bytes)", e,
                          len(batch.envelopes))
                return False
            except OSError as e:
                log.error("spool %s not writable (%s); retrying, nothing is acknowledged",
                          self.spool.path, e)
            if self._stopping.is_set() and time.monotonic() >= self._deadline:
                log.error("stopping with %d messages not spooled; they stay with the broker",
                          len(batch.envelopes))
                return False
            if needed is None:
                self._stopping.wait(RETRY_APPEND_S)
            else:
                self.spool.wait_for_space(needed, RETRY_APPEND_S)

    def _restore(self) -> None:
        saved = self.state.load()
        for p in self.processors:
            restore = getattr(p, "restore", None)
            if restore is not None and p.name in saved:
                restore(saved[p.name])

    def _save_state(self) -> None:
        self._last_save = time.monotonic()
        try:
            states = {p.name: p.state() for p in self.processors if hasattr(p, "state")}
            if states:
                self.state.save(states)
        except Exception as e:  # stale state costs QC history and duplicate counts, not data
            log.error("could not save processor state to %s: %s", self.state.path, e)

    def _note(self, station: str, kind: str, env: Envelope) -> None:
        """Status and event messages are counted; status tells online/offline."""
        if kind == "status":
            try:
                online = json.loads(env.payload).get("online")
            except Exception:  # anything a station sends: bad JSON, a list, absurd nesting
                online = None
            if isinstance(online, bool):
                self.metrics.online(station, online)
        log.debug("%s from %s: %r", kind, station, env.payload[:200])

    def _ack(self, envs: list[Envelope]) -> None:
        for env in envs:
            try:
                self.source.ack(env.token)
            except Exception:
                log.exception("ack failed for %s", env.topic)
        self.metrics.acked(len(envs))


def _without(envs: list[Envelope], rejected: list[Rejected]) -> list[Envelope]:
    gone = {id(r.envelope) for r in rejected}
    return [env for env in envs if id(env) not in gone]
