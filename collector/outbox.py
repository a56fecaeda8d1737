"""A durable, ordered outbox for the collector's integrations (e-gov uploads and pushes, camera
points): each item is delivered at least once, in order per destination, under an idempotency
key, and survives a crash or a restart.

On disk, under one folder:

    00000000000000000001.log    records [u32 length][u32 1][u32 crc32][JSON item] (spool format)
    cursor-<dest>.json          {"segment": n, "offset": bytes}: everything of <dest> before it
                                is delivered (or dead-lettered); replaced atomically
    dead-letters.jsonl          items a receiver refused for good, with its reason
    lock                        flock'd while a collector uses the outbox

`add` writes new items with one fsync and skips a key the outbox already holds, so the same
cycle file or alert is never queued twice. Each destination has a worker thread
(`OutboxWorker`) that delivers the oldest item, retries with a doubling back-off for as long
as it takes, and moves the destination's cursor only after the receiver has it. Segments every
destination has passed are kept `keep_s` more (their keys still count as known), then deleted.
A torn record at the end (a crash mid-write) is cut off at open; it was never acknowledged.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from collector.dead_letters import DeadLetters
from collector.spool_format import (
    HEADER,
    fsync_dir,
    next_record,
    parse_header,
    record,
    write_atomic,
)

log = logging.getLogger("quantrac.collector.outbox")
SUFFIX = ".log"
Ref = tuple[int, int, int]  # segment, offset, end offset of one record


@dataclass(frozen=True)
class OutboxItem:
    """`dest`: the worker that delivers it; `key`: its idempotency key, unique per dest;
    `body`: what is sent (JSON-able); `meta`: what the deliverer needs besides (a path)."""

    dest: str
    key: str
    body: Any
    meta: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """A deliverer's answer for one item: delivered, refused for good (`refused` says why;
    dead-lettered, not retried), or kept (`error`; again after `retry_after` or the back-off;
    `operator`: only a person fixes it, e.g. credentials)."""

    delivered: bool = False
    refused: str = ""
    error: str = ""
    retry_after: float | None = None
    operator: bool = False

    @classmethod
    def ok(cls) -> Outcome:
        return cls(delivered=True)

    @classmethod
    def refuse(cls, reason: str) -> Outcome:
        return cls(refused=reason)

    @classmethod
    def retry(cls, error: str, after: float | None = None, operator: bool = False) -> Outcome:
        return cls(error=error, retry_after=after, operator=operator)


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
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise OutboxError(f"outbox {self.path} is in use by another collector") from None
        self._cond = threading.Condition()
        self._pending: dict[str, deque[Ref]] = {d: deque() for d in self.dests}
        self._keys: set[tuple[str, str]] = set()
        self._seg_keys: dict[int, list[tuple[str, str]]] = {}
        self._sizes: dict[int, int] = {}
        self._next_drop = 0.0
        segs = sorted(int(p.stem) for p in self.path.glob(f"*{SUFFIX}") if p.stem.isdigit())
        for n in segs:
            self._scan(n, last=n == segs[-1])
        if not segs:
            segs = [1]
            self._sizes[1] = 0
            self._seg_keys[1] = []
        self._segments = segs
        self._fd = os.open(self._seg(segs[-1]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    # -- open ------------------------------------------------------------------------------

    def _scan(self, n: int, last: bool) -> None:
        """Index one segment: keys, and the records each destination has not passed yet."""
        data = self._seg(n).read_bytes()
        cursors = {d: self._cursor(d) for d in self.dests}
        off, keys = 0, []
        while (end := next_record(data, off)) is not None:
            try:
                doc = json.loads(data[off + HEADER.size:end])
                dest, key = doc["d"], doc["k"]
            except (ValueError, KeyError, TypeError) as e:
                log.error("outbox: undecodable record in %s at %d (%s); skipped", n, off, e)
                off = end
                continue
            keys.append((dest, key))
            if dest in cursors and (n, off) >= cursors[dest]:
                self._pending[dest].append((n, off, end))
            off = end
        if off < len(data):
            bad = self.path / "corrupt" / f"{n:020d}-{off}.bin"
            bad.parent.mkdir(exist_ok=True)
            bad.write_bytes(data[off:])
            log.warning("outbox: %d bytes after the last whole record of %s moved to %s (%s)",
                        len(data) - off, self._seg(n).name, bad,
                        "a crash mid-write" if last else "damaged")
            with open(self._seg(n), "r+b") as f:
                f.truncate(off)
                os.fsync(f.fileno())
        self._keys.update(keys)
        self._seg_keys[n] = keys
        self._sizes[n] = off

    def _cursor(self, dest: str) -> tuple[int, int]:
        try:
            doc = json.loads((self.path / f"cursor-{dest}.json").read_text())
            return int(doc["segment"]), int(doc["offset"])
        except FileNotFoundError:
            return (0, 0)
        except (ValueError, KeyError, TypeError) as e:
            log.error("outbox: cursor of %s unreadable (%s); delivering from the oldest item "
                      "(the receivers see repeated idempotency keys)", dest, e)
            return (0, 0)

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
            blobs = [record(json.dumps({"d": it.dest, "k": it.key, "b": it.body,
                                        "m": it.meta, "t": it.t or time.time()},
                                       ensure_ascii=False, separators=(",", ":")).encode(), 1)
                     for it in new]
            size = sum(map(len, blobs))
            used = sum(self._sizes.values())
            if used + size > self.max_bytes:
                raise OutboxFull(f"outbox {self.path} full: {used} of {self.max_bytes} bytes "
                                 f"used, {size} more needed")
            n = self._segments[-1]
            if self._sizes[n] and self._sizes[n] + size > self.segment_bytes:
                n = self._rotate()
            start = self._sizes[n]
            try:
                view = memoryview(b"".join(blobs))
                while view:
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except OSError:
                os.ftruncate(self._fd, start)
                raise
            off = start
            for it, blob in zip(new, blobs, strict=True):
                self._pending[it.dest].append((n, off, off + len(blob)))
                self._keys.add((it.dest, it.key))
                self._seg_keys[n].append((it.dest, it.key))
                off += len(blob)
            self._sizes[n] = off
            self._cond.notify_all()
            return new

    def _rotate(self) -> int:
        os.close(self._fd)
        n = self._segments[-1] + 1
        self._fd = os.open(self._seg(n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fsync_dir(self.path)
        self._segments.append(n)
        self._sizes[n], self._seg_keys[n] = 0, []
        return n

    # -- readers ---------------------------------------------------------------------------

    def next(self, dest: str, timeout: float = 0.0) -> tuple[OutboxItem, Ref] | None:
        """The oldest item of `dest` not delivered yet and its ref (for `commit`); waits up
        to `timeout` seconds for one."""
        with self._cond:
            if not self._pending[dest] and timeout > 0:
                self._cond.wait(timeout)
            if not self._pending[dest]:
                return None
            ref = self._pending[dest][0]
        n, off, end = ref
        with open(self._seg(n), "rb") as f:
            f.seek(off)
            blob = f.read(end - off)
        head, payload = blob[:HEADER.size], blob[HEADER.size:]
        if not parse_header(head, payload):
            raise OutboxError(f"outbox {self._seg(n)} damaged at byte {off}")
        doc = json.loads(payload)
        return OutboxItem(doc["d"], doc["k"], doc["b"], doc.get("m") or {}, doc.get("t", 0.0)), ref

    def commit(self, dest: str, ref: Ref) -> None:
        """`dest` has the item at `ref` (delivered or dead-lettered): move its cursor."""
        doc = json.dumps({"segment": ref[0], "offset": ref[2]}).encode()
        write_atomic(self.path / f"cursor-{dest}.json", doc)
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
        oldest = min((q[0][0] for q in self._pending.values() if q),
                     default=self._segments[-1])
        for n in [n for n in self._segments[:-1] if n < oldest]:
            try:
                if now - self._seg(n).stat().st_mtime < self.keep_s:
                    break
                self._seg(n).unlink()
            except FileNotFoundError:
                pass
            self._segments.remove(n)
            self._keys.difference_update(self._seg_keys.pop(n, []))
            self._sizes.pop(n, None)

    def pending(self, dest: str) -> int:
        with self._cond:
            return len(self._pending[dest])

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {"bytes": sum(self._sizes.values()), "max_bytes": self.max_bytes,
                    "pending": {d: len(q) for d, q in self._pending.items()}}

    def close(self) -> None:
        with self._cond:
            if self._fd < 0:
                return
            os.close(self._fd)
            os.close(self._lock_fd)
            self._fd = -1
            self._cond.notify_all()

    def _seg(self, n: int) -> Path:
        return self.path / f"{n:020d}{SUFFIX}"


class OutboxDeadLetters(DeadLetters):
    """Items a receiver refused for good: destination, key, meta, body and the reason."""

    def add_items(self, items: list[tuple[OutboxItem, str]]) -> None:
        now = time.time()
        self._append([{"time": now, **asdict(it), "reason": reason} for it, reason in items])


class OutboxWorker:
    """One destination's delivery thread: oldest first, one item at a time, back-off doubling
    from `retry_initial_s` to `retry_max_s` (or the receiver's Retry-After)."""

    def __init__(self, outbox: Outbox, dest: str, deliverer: Deliverer, *,
                 retry_initial_s: float = 1.0, retry_max_s: float = 300.0,
                 dead_letters: Path | OutboxDeadLetters | None = None) -> None:
        """`dead_letters`: a file, or a writer with `add_items` (the alert outputs write
        theirs like every other alert dead letter); default: the outbox's own file."""
        self.outbox, self.dest, self.deliverer = outbox, dest, deliverer
        self.retry_initial_s, self.retry_max_s = retry_initial_s, retry_max_s
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
            delay = max(out.retry_after or 0.0,
                        min(self.retry_max_s, self.retry_initial_s * 2 ** (attempt - 1)))
            self.state, self.last_error = ("operator" if out.operator else "retrying"), out.error
            self.retrying_since = self.retrying_since or time.time()
            (log.error if out.operator else log.warning)(
                "%s: %s kept (%d waiting), retry %d in %.1f s: %s", self.dest, item.key,
                self.outbox.pending(self.dest), attempt, delay, out.error)
            if self._stop.wait(delay):
                return
