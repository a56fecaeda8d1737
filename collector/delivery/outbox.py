"""A durable, ordered outbox for the collector's integrations (e-gov uploads and pushes, camera
points, the alert webhook and e-mail): each item is delivered at least once, in order per
destination, under an idempotency key, and survives a crash or a restart.

On disk, under one folder, the collector's segmented log (collector/log/README.md):

    00000000000000000001.log    records [u32 length][u32 1][u32 crc32][JSON item]
    cursor-<dest>.json          {"segment": n, "offset": bytes}: everything of <dest> before it
                                is delivered (or dead-lettered); replaced atomically
    dead-letters.jsonl          items a receiver refused for good, with its reason
    lock                        flock'd while a collector uses the outbox
    corrupt/                    a damaged record's bytes; every other item is still delivered

`add` writes new items with one fsync and skips a key the outbox already holds, so the same
cycle file or alert is never queued twice. Each destination has a worker thread
(`OutboxWorker`) that delivers the oldest item, retries with the shared back-off
(collector/delivery/backoff.py) for as long as it takes, and moves the destination's cursor only
after the receiver has it. Segments every destination has passed are kept `keep_s` more (their
keys still count as known), then deleted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from collector.contracts import Outcome
from collector.dead_letters import DeadLetters
from collector.delivery.backoff import Backoff
from collector.log import LogError, SegmentLog, cursors, frame
from collector.log.format import HEADER

log = logging.getLogger("quantrac.collector.outbox")
SUFFIX = ".log"
Ref = tuple[int, int, int]  # segment, offset, end offset of one record
__all__ = ["Deliverer", "Outbox", "OutboxDeadLetters", "OutboxError", "OutboxFull",
           "OutboxItem", "OutboxWorker", "Outcome", "Ref"]


@dataclass(frozen=True)
class OutboxItem:
    """`dest`: the worker that delivers it; `key`: its idempotency key, unique per dest;
    `body`: what is sent (JSON-able); `meta`: what the deliverer needs besides (a path)."""

    dest: str
    key: str
    body: Any
    meta: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0


class Deliverer(Protocol):
    def deliver(self, item: OutboxItem) -> Outcome:
        """Try once; never sleeps or retries itself."""

    def close(self) -> None:
        """Release connections."""


class OutboxError(RuntimeError):
    """The outbox cannot be used (in use by another collector)."""


class OutboxFull(OutboxError):
    pass


class Outbox:
    def __init__(self, path: Path | str, dests: Iterable[str], *, max_bytes: int = 1 << 30,
                 segment_bytes: int = 4 << 20, keep_s: float = 7 * 86400) -> None:
        self.path = Path(path)
        self.dests = tuple(dests)
        self.max_bytes, self.segment_bytes, self.keep_s = max_bytes, segment_bytes, keep_s
        try:
            self._log = SegmentLog(self.path, suffix=SUFFIX, max_bytes=max_bytes,
                                   segment_bytes=segment_bytes, log=log, name="outbox")
        except LogError as e:
            raise OutboxError(str(e)) from None
        self._cond = self._log.cond
        self._pending: dict[str, deque[Ref]] = {d: deque() for d in self.dests}
        self._keys: set[tuple[str, str]] = set()
        self._seg_keys: dict[int, list[tuple[str, str]]] = {}
        self._next_drop = 0.0
        try:
            cursors_ = {d: self._cursor(d) for d in self.dests}
            for n in self._log.segments:
                self._index(n, cursors_)
            self._log.scanned.clear()
        except BaseException:
            self._log.close()
            raise

    # -- open ------------------------------------------------------------------------------

    def _index(self, n: int, cursors_: dict[str, tuple[int, int]]) -> None:
        """One segment's keys, and the records each destination has not passed yet."""
        path = self._log.seg_path(n)
        data = path.read_bytes() if path.exists() else b""
        keys = []
        for off, end, _ in self._log.scanned[n].records:
            try:
                doc = json.loads(data[off + HEADER.size:end])
                dest, key = doc["d"], doc["k"]
            except (ValueError, KeyError, TypeError) as e:
                self._log.quarantine(n, off, end, f"is undecodable ({e})")
                continue
            keys.append((dest, key))
            if dest in cursors_ and (n, off) >= cursors_[dest]:
                self._pending[dest].append((n, off, end))
        self._keys.update(keys)
        self._seg_keys[n] = keys

    def _cursor(self, dest: str) -> tuple[int, int]:
        return cursors.load(self.path, dest, log, f"delivering {dest} from the oldest item "
                            "(the receivers see repeated idempotency keys)") or (0, 0)

    # -- writer ----------------------------------------------------------------------------

    def add(self, items: Iterable[OutboxItem]) -> list[OutboxItem]:
        """Queue the items whose (dest, key) the outbox does not hold yet, durably (one
        fsync); returns those. OutboxFull when they do not fit under max_bytes."""
        with self._cond:
            new, seen = [], set()
            for it in items:
                if it.dest not in self._pending:
                    raise ValueError(f"outbox: no destination {it.dest!r} ({self.dests})")
                k = (it.dest, it.key)
                if k not in self._keys and k not in seen:
                    seen.add(k)
                    new.append(it)
            if not new:
                return []
            blobs = [frame(json.dumps({"d": it.dest, "k": it.key, "b": it.body,
                                       "m": it.meta, "t": it.t or time.time()},
                                      ensure_ascii=False, separators=(",", ":")).encode(), 1)
                     for it in new]
            try:
                refs = self._log.append(blobs)
            except LogError as e:  # full now, or more than the whole outbox
                raise OutboxFull(f"outbox {self.path} full: {e}") from None
            for it, ref in zip(new, refs, strict=True):
                self._pending[it.dest].append(ref)
                self._keys.add((it.dest, it.key))
                self._seg_keys.setdefault(ref[0], []).append((it.dest, it.key))
            self._cond.notify_all()
            return new

    # -- readers ---------------------------------------------------------------------------

    def next(self, dest: str, timeout: float = 0.0) -> tuple[OutboxItem, Ref] | None:
        """The oldest item of `dest` not delivered yet and its ref (for `commit`); waits up
        to `timeout` seconds for one. An item damaged on disk since open is set aside (its
        bytes in corrupt/) and the next one comes instead."""
        while True:
            with self._cond:
                if not self._pending[dest] and timeout > 0:
                    self._cond.wait(timeout)
                if not self._pending[dest]:
                    return None
                ref = self._pending[dest][0]
            payload = self._log.read(*ref)
            if payload is not None:
                doc = json.loads(payload)
                return OutboxItem(doc["d"], doc["k"], doc["b"], doc.get("m") or {},
                                  doc.get("t", 0.0)), ref
            with self._cond:
                if self._pending[dest] and self._pending[dest][0] == ref:
                    self._pending[dest].popleft()

    def commit(self, dest: str, ref: Ref) -> None:
        """`dest` has the item at `ref` (delivered or dead-lettered): move its cursor."""
        cursors.save(self.path, dest, (ref[0], ref[2]))
        with self._cond:
            if self._pending[dest] and self._pending[dest][0] == ref:
                self._pending[dest].popleft()
            self._drop_old()

    def _drop_old(self) -> None:
        """Delete segments every destination has passed, once older than keep_s."""
        now = time.time()
        if now < self._next_drop:
            return
        self._next_drop = now + 60
        segments = self._log.segments
        oldest = min((q[0][0] for q in self._pending.values() if q), default=segments[-1])
        for n in [n for n in segments[:-1] if n < oldest]:
            try:
                if now - self._log.seg_path(n).stat().st_mtime < self.keep_s:
                    break
            except FileNotFoundError:
                pass
            self._log.drop(n)
            self._keys.difference_update(self._seg_keys.pop(n, []))

    def pending(self, dest: str) -> int:
        with self._cond:
            return len(self._pending[dest])

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {"bytes": self._log.used(), "max_bytes": self.max_bytes,
                    "pending": {d: len(q) for d, q in self._pending.items()},
                    "quarantined": dict(self._log.quarantined)}

    def close(self) -> None:
        self._log.close()


class OutboxDeadLetters(DeadLetters):
    """Items a receiver refused for good: destination, key, meta, body and the reason."""

    def add_items(self, items: list[tuple[OutboxItem, str]]) -> None:
        now = time.time()
        self._append([{"time": now, **asdict(it), "reason": reason} for it, reason in items])


class OutboxWorker:
    """One destination's delivery thread: oldest first, one item at a time, the shared back-off
    (collector/delivery/backoff.py) from `retry_initial_s` to `retry_max_s` or the receiver's
    Retry-After."""

    def __init__(self, outbox: Outbox, dest: str, deliverer: Deliverer, *,
                 retry_initial_s: float = 1.0, retry_max_s: float = 300.0,
                 dead_letters: Path | OutboxDeadLetters | None = None) -> None:
        """`dead_letters`: a file, or a writer with `add_items` (the alert outputs write
        theirs like every other alert dead letter); default: the outbox's own file."""
        self.outbox, self.dest, self.deliverer = outbox, dest, deliverer
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
        self.backoff = Backoff(retry_initial_s, retry_max_s)
        self.dead = dead_letters if isinstance(dead_letters, OutboxDeadLetters) else \
            OutboxDeadLetters(dead_letters or outbox.path / "dead-letters.jsonl")
        self.delivered = self.refused = 0
        self.state, self.last_error = "ok", ""
        self.retrying_since: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"quantrac-outbox-{dest}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the delivery in progress (bounded by the deliverer's own timeout), then
        stop; what is left stays in the outbox for the next start."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        try:
            self.deliverer.close()
        except Exception:
            log.exception("%s: close failed", self.dest)

    def stats(self) -> dict[str, Any]:
        return {"state": self.state, "last_error": self.last_error, "delivered": self.delivered,
                "refused": self.refused, "waiting": self.outbox.pending(self.dest),
                "retrying_since": self.retrying_since}

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                got = self.outbox.next(self.dest, timeout=0.2)
                if got is not None:
                    self._one(*got)
            except Exception:  # a bug must not end delivery for good; the item stays queued
                log.exception("%s: outbox delivery failed", self.dest)
                self._stop.wait(self.retry_max_s)

    def _one(self, item: OutboxItem, ref: Ref) -> None:
        attempt = 0
        while True:
            try:
                out = self.deliverer.deliver(item)
            except Exception as e:  # a deliverer bug is a retry, never a loss
                log.exception("%s: deliver raised", self.dest)
                out = Outcome.retry(f"deliverer raised {e!r}")
            if out.delivered or out.refused:
                if out.refused:
                    self.dead.add_items([(item, out.refused)])
                    self.refused += 1
                    log.warning("%s: %s refused for good (dead letter): %s", self.dest,
                                item.key, out.refused)
                else:
                    self.delivered += 1
                self.outbox.commit(self.dest, ref)
                self.state, self.retrying_since = "ok", None
                return
            attempt += 1
            delay = self.backoff.delay(attempt, out.retry_after)
            self.state, self.last_error = ("operator" if out.operator else "retrying"), out.error
            self.retrying_since = self.retrying_since or time.time()
            (log.error if out.operator else log.warning)(
                "%s: %s kept (%d waiting), retry %d in %.1f s: %s", self.dest, item.key,
                self.outbox.pending(self.dest), attempt, delay, out.error)
            if self._stop.wait(delay):
                return
