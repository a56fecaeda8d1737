"""The ingest loop: the source's messages → bounded queue → batches → processors → dead letters
and spool (fsync'd) → ack. Its own thread; back-pressure is not acknowledging.

    source thread ─put─▶ queue (queue_size) ─▶ loop thread: batch (≤ WORKER_BATCH, bytes)
         control (status, event) ─▶ device points ─▶ spool ─▶ ack
         answer (operator) ─▶ alerts stage ─▶ points ─▶ spool ─▶ state saved ─▶ outputs ─▶ ack
                                    └▶ refused ─▶ dead letters (class `answer`) ─▶ ack
         data ─▶ processors ─▶ rejected ─▶ dead letters ─▶ ack
                             └▶ readings + points ─▶ spool (fsync) ─▶ commit ─▶ outputs ─▶ ack

A full queue holds paho's thread (the broker stops sending past its in-flight window); a full
spool or full dead letters stop acknowledging, so the broker keeps the messages in the session.
The loop owns the processors' state: only this thread calls them.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from collector.contracts import Batch, Envelope, Rejected, topic_parts
from collector.dead_letter_store import DeadLettersFull
from collector.processors.validate.plugin import oversized
from collector.spool import SpoolError, SpoolFull
from quantrac_common.protocol import ANSWER

if TYPE_CHECKING:
    from collector.pipeline import Collector

log = logging.getLogger("quantrac.collector")
WORKER_BATCH = 1000  # envelopes per spool append (one fsync); also bounded by payload bytes
BATCH_WAIT_S, RETRY_APPEND_S = 0.05, 1.0  # the wait fills batches under load (else ~40)
TICK_S = 1.0  # how often time-driven work (offline alerts, self-metrics) is looked at


class IngestLoop:
    """`emit(env)` (the source's callback), `start()`, `stop(deadline)` (joins the thread),
    `alive`, `queued`."""

    def __init__(self, c: Collector) -> None:
        self.c = c
        self.settings = c.settings
        self._queue: queue.Queue[Envelope] = queue.Queue(maxsize=c.settings.collector.queue_size)
        self._accepting = False
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._held: list[Envelope] = []  # a batch waiting for dead-letter room, unacked
        self._waiting = False
        self._last_save = time.monotonic()
        self._batch_bytes = max(1 << 16, c.settings.spool.segment_bytes // 16)
        self._next_tick = 0.0

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="quantrac-collector", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        """Stop taking messages (later ones stay unacked with the broker), finish the batch
        at hand (spool writes retried until `deadline`, monotonic) and join."""
        self._accepting = False
        self._deadline = deadline
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    # -- source thread ---------------------------------------------------------------------

    def emit(self, env: Envelope) -> None:
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
        if not (self._held or self.c.dead_letters.full):
            return False
        if not self.c.dead_letters.room():
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
        answers: list[Envelope] = []
        limit = self.settings.collector.max_payload_bytes
        for env in envs:
            parts = topic_parts(env.topic)
            kind = parts[1] if parts else "other"
            if kind == ANSWER and len(env.payload) <= limit:
                self.c.metrics.received(None, kind)  # the operator's: the station stays silent
                answers.append(env)
                continue
            self.c.metrics.received(parts[0] if parts else None, kind)
            if kind in ("status", "event") and len(env.payload) <= limit:
                self._note(parts[0], kind, env)
                control.append(env)
            else:
                data.append(env)  # `validate` refuses what is not a station data topic
        self._handle_control(control)
        if answers:
            self._handle_answers(answers)
        if data:
            self._handle_data(data)

    def _handle_answers(self, envs: list[Envelope]) -> None:
        """The operator's acknowledgements and silences, one at a time, to the stage with an
        `answer` hook (alerts): its points are spooled and the state saved before the ack, so
        an acknowledgement the broker forgot is one the collector keeps across a restart."""
        stage = next((p for p in self.c.processors if hasattr(p, "answer")), None)
        for env in envs:
            station = topic_parts(env.topic)[0]  # type: ignore[index]
            try:
                if stage is None:
                    raise ValueError("the chain has no alerts stage to take answers")
                points = stage.answer(station, env.payload)
            except ValueError as e:  # desk.AnswerError among them: kept with its reason
                log.warning("answer on %s refused: %s", env.topic, e)
                self.c.metrics.rejected("answer")
                try:
                    self.c.dead_letters.add([Rejected(env, str(e), "answer")])
                except (DeadLettersFull, OSError) as err:
                    log.error("answer on %s not kept (%s); left unacknowledged", env.topic, err)
                    continue
                self._ack([env])
                continue
            if points and not self._append(Batch([], points=points)):
                return  # stopping before the spool took it: the broker keeps it
            self._save_state()
            self.c.outputs.send(points)
            self._ack([env])

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
                self.c.dead_letters.add(batch.rejected)
            except DeadLettersFull as e:  # logged by the store. What went in is acked; the
                kept = batch.rejected[:e.written]  # rest waits, unacked, remembered nowhere
                self._rejected(kept)
                self._held = _without(data, kept)
                self._ack([r.envelope for r in kept])
                return
            except OSError as e:
                log.error("dead-letter file %s not writable (%s): %d rejected messages stay "
                          "unacknowledged", self.c.dead_letters.path, e, len(batch.rejected))
                to_ack, refused_ok = _without(data, batch.rejected), []
            self._rejected(batch.rejected)
        if not self._append(batch):
            # stopping before the spool took it: only the dead-lettered messages are acked,
            # the rest stays with the broker and nothing of it is remembered
            self._ack(refused_ok)
            return
        for p in self.c.processors if processed else ():  # a failed chain remembers nothing
            commit = getattr(p, "commit", None)
            if commit is not None:
                commit(batch)
        self.c.outputs.send(batch.points)
        self.c.metrics.duplicates(batch.duplicates)
        self.c.metrics.flagged(batch.readings)
        if time.monotonic() - self._last_save >= self.settings.collector.state_interval_s:
            self._save_state()
        self._ack(to_ack)

    def _rejected(self, rejected: list[Rejected]) -> None:
        for r in rejected:
            log.warning("rejected %s: %s", r.envelope.topic, r.reason)
            self.c.metrics.rejected(r.cls)

    def _handle_control(self, envs: list[Envelope]) -> None:
        """Status and events → `device` points (when that stage is in the chain), spooled
        before the ack like readings."""
        points = [pt for p in self.c.processors if p.name == "device"
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
        self._own_batches(now)
        points, stats = [], self.c.stats
        for part in (*self.c.processors, self.c.exporter):
            tick = getattr(part, "tick", None)
            if tick is not None:
                try:
                    points += tick(now, stats)
                except Exception:
                    log.exception("%s: tick failed", getattr(part, "name", type(part).__name__))
        if points and self._append(Batch([], points=points)):
            self.c.outputs.send(points)

    def _own_batches(self, now: float) -> None:
        """A processor may start a batch of its own (`start_batch(now)`: the aggregate stage
        recomputing what an operator's review mark changed); it goes through the processors
        after that one, then to the spool and the outputs like a station's batch."""
        chain = self.c.processors
        for i, p in enumerate(chain):
            start = getattr(p, "start_batch", None)
            if start is None:
                continue
            try:
                batch = start(now)
                if batch is None:
                    continue
                for q in chain[i + 1:]:
                    batch = q.process(batch)
            except Exception:
                log.exception("%s: its own batch failed", p.name)
                continue
            if self._append(batch):
                getattr(p, "batch_done", lambda: None)()
                for q in chain[i + 1:]:
                    commit = getattr(q, "commit", None)
                    if commit is not None:
                        commit(batch)
                self.c.outputs.send(batch.points)

    def _process(self, data: list[Envelope]) -> tuple[Batch, bool]:
        """The processed batch and True; or, when a processor raised, every message refused
        (class `internal`, kept in dead letters for a replay after the fix) and False."""
        batch = Batch(data)
        for p in self.c.processors:
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
                self.c.spool.append([*batch.readings, *batch.points])
                if warned:
                    self.c.metrics.spool_full(False)
                    log.info("spool has room again; acknowledging resumes")
                return True
            except SpoolFull as e:
                if not warned:
                    self.c.metrics.spool_full(True)
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
                          self.c.spool.path, e)
            if self._stopping.is_set() and time.monotonic() >= self._deadline:
                log.error("stopping with %d messages not spooled; they stay with the broker",
                          len(batch.envelopes))
                return False
            if needed is None:
                self._stopping.wait(RETRY_APPEND_S)
            else:
                self.c.spool.wait_for_space(needed, RETRY_APPEND_S)

    def _save_state(self) -> None:
        self._last_save = time.monotonic()
        self.c.save_state()

    def _note(self, station: str, kind: str, env: Envelope) -> None:
        """Status and event messages are counted; status tells online/offline."""
        if kind == "status":
            try:
                online = json.loads(env.payload).get("online")
            except Exception:  # anything a station sends: bad JSON, a list, absurd nesting
                online = None
            if isinstance(online, bool):
                self.c.metrics.online(station, online)
        log.debug("%s from %s: %r", kind, station, env.payload[:200])

    def _ack(self, envs: list[Envelope]) -> None:
        for env in envs:
            try:
                self.c.source.ack(env.token)
            except Exception:
                log.exception("ack failed for %s", env.topic)
        self.c.metrics.acked(len(envs))


def _without(envs: list[Envelope], rejected: list[Rejected]) -> list[Envelope]:
    gone = {id(r.envelope) for r in rejected}
    return [env for env in envs if id(env) not in gone]
