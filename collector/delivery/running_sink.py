"""Delivery around one sink: batching, retry with back-off, dead letters, completion callbacks.

Readings (and derived points) arrive in groups with a `done` callback — in the pipeline, one
read from the spool, whose cursor moves when it is done. A group's callback runs only once
every item in it is stored or, refused by the sink for good, written to the dead-letter file.
Nothing is dropped: an item the sink cannot take now stays here, retried with a growing
back-off, until it is stored or the collector stops; then its cursor has not moved and the
spool hands it out again on the next start. A refused item the dead-letter store has no room
for stays the same way (the sink state says why) until an operator's replay or discard frees
some.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from collector.contracts import Reading, Sink, WriteResult
from collector.dead_letter_store import DeadLettersFull
from collector.dead_letters import DeadLetters
from collector.delivery.backoff import Backoff
from collector.metrics import Metrics

log = logging.getLogger("quantrac.collector.sink")


@dataclass
class _Group:
    readings: list[Reading]
    done: Callable[[], None]
    left: int


class RunningSink:
    def __init__(self, sink: Sink, dead_letters: DeadLetters, metrics: Metrics, *,
                 batch_size: int = 5000, flush_interval_s: float = 0.5,
                 retry_initial_s: float = 0.5, retry_max_s: float = 60.0,
                 name: str = "influxdb") -> None:
        self.sink = sink
        self.name = name
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._dead = dead_letters
        self._metrics = metrics
        self._groups: list[_Group] = []
        self._buffered = 0
        self._oldest: float | None = None
        self._give_up_at: float | None = None
        self._held = ""  # why refused readings wait here instead of in the dead letters
        self._wake = threading.Event()

    @property
    def buffered(self) -> int:
        """Readings waiting to be written."""
        return self._buffered

    def add(self, readings: list[Reading], done: Callable[[], None]) -> None:
        """Queue a group; `done` runs once all of it is stored or dead-lettered."""
        if not readings:
            done()
            return
        self._groups.append(_Group(list(readings), done, len(readings)))
        self._buffered += len(readings)
        if self._oldest is None:
            self._oldest = time.monotonic()

    def due(self) -> bool:
        """A full batch is waiting, or the oldest reading has waited the flush interval."""
        if self._buffered >= self.batch_size:
            return True
        return self._oldest is not None and \
            time.monotonic() - self._oldest >= self.flush_interval_s

    def seconds_until_due(self) -> float | None:
        if self._oldest is None:
            return None
        return max(0.0, self.flush_interval_s - (time.monotonic() - self._oldest))

    def give_up_after(self, seconds: float) -> None:
        """From another thread: stop retrying `seconds` from now (the collector is stopping)."""
        self._give_up_at = time.monotonic() + seconds
        self._wake.set()

    def flush(self) -> bool:
        """Write everything buffered, in batches. True when all of it is stored or
        dead-lettered; False when `give_up_after` ran out first: the rest is abandoned
        unacknowledged (the collector is stopping) and this object is not flushed again."""
        while self._groups:
            chunk: list[tuple[_Group, Reading]] = []
            for g in self._groups:
                start = len(g.readings) - g.left
                for r in g.readings[start:start + self.batch_size - len(chunk)]:
                    chunk.append((g, r))
                if len(chunk) >= self.batch_size:
                    break
            if not self._deliver(chunk):
                return False
            finished = [g for g in self._groups if g.left == 0]
            self._groups = [g for g in self._groups if g.left > 0]
            for g in finished:
                try:
                    g.done()
                except Exception:
                    log.exception("%s: completion callback failed", self.name)
        self._oldest = None
        return True

    def _deliver(self, chunk: list[tuple[_Group, Reading]]) -> bool:
        pending = list(range(len(chunk)))
        attempt = 0
        while pending:
            batch = [chunk[i][1] for i in pending]
            try:
                result = self.sink.write(batch)
            except Exception as e:  # a sink bug is a retry, never a loss
                log.exception("%s: write raised", self.name)
                result = WriteResult(retry_after=0.0, error=f"sink raised {e!r}")
            resolved = self._resolve(chunk, pending, result)
            pending = [i for n, i in enumerate(pending) if n not in resolved]
            if not pending:
                self._metrics.write("ok")
                return True
            attempt += 1
            delay = Backoff(self.retry_initial_s, self.retry_max_s).delay(attempt,
                                                                          result.retry_after)
            error = result.error or self._held or "sink kept readings without saying why"
            operator = result.operator or bool(self._held)
            self._metrics.write("operator" if operator else "retry", error)
            (log.error if operator else log.warning)(
                "%s: keeping %d unwritten readings, retry %d in %.1f s: %s%s", self.name,
                len(pending), attempt, delay, error,
                " (needs an operator: check the sink's credentials and database)"
                if result.operator else "")
            if self._give_up_at is not None and time.monotonic() + delay > self._give_up_at:
                log.error("%s: stopping with %d readings unwritten; they stay where they came "
                          "from (the spool) for the next start", self.name, self._buffered)
                return False
            self._wake.wait(delay)
            self._wake.clear()
        return True

    def _resolve(self, chunk: list[tuple[_Group, Reading]], pending: list[int],
                 result: WriteResult) -> set[int]:
        """Apply one result; the positions (into `pending`) that are now settled."""
        settled: set[int] = set()
        stored = []
        for n in result.accepted:
            if 0 <= n < len(pending) and n not in settled:
                settled.add(n)
                stored.append(chunk[pending[n]][1])
        refused = list({n: reason for n, reason in result.rejected
                        if 0 <= n < len(pending) and n not in settled}.items())
        self._held = ""
        if refused:
            try:
                self._dead.add_readings([(chunk[pending[n]][1], reason) for n, reason in refused])
            except DeadLettersFull as e:  # the rest stays here and in the spool, not dropped
                self._held = (f"{len(refused) - e.written} refused readings kept until there "
                              f"is room: {e}")
                refused = refused[:e.written]
            except OSError as e:
                log.error("%s: dead-letter file %s not writable (%s); %d refused readings kept",
                          self.name, self._dead.path, e, len(refused))
                refused = []
            for n, reason in refused:
                settled.add(n)
                log.warning("%s: reading refused: %s", self.name, reason)
            self._metrics.rejected("sink", len(refused))
        self._metrics.stored(stored)
        for n in settled:
            g = chunk[pending[n]][0]
            g.left -= 1
            self._buffered -= 1
        return settled
