"""One folder of numbered segments, appended to under a lock, read by position, recovered at
open (see recovery.py), rotated at `segment_bytes` and capped at `max_bytes`.

    00000000000000000001<suffix>   segments of records (format.py)
    cursor-<name>.json             the readers' named cursors (cursors.py)
    lock                           flock'd while a collector uses the folder
    corrupt/                       damaged bytes, kept for a person

Damaged bytes stay in their segment (a cursor names an offset in it, so nothing moves); the
log remembers them as holes and every reader steps over them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from collector.log.format import HEADER, holds, resync
from collector.log.recovery import Scan, corrupt_copy, scan
from quantrac_common.files import fsync_dir


class LogError(RuntimeError):
    """The log cannot be used (in use by another collector) or cannot take an append."""


class LogFull(LogError):
    """Appending `needed` bytes would pass max_bytes: wait for the readers to consume."""

    def __init__(self, needed: int, used: int, max_bytes: int) -> None:
        super().__init__(f"{used} of {max_bytes} bytes used, {needed} more needed")
        self.needed, self.used, self.max_bytes = needed, used, max_bytes


@dataclass(frozen=True)
class Record:
    segment: int
    offset: int
    end: int
    count: int
    payload: bytes


class SegmentLog:
    def __init__(self, path: Path | str, *, suffix: str, max_bytes: int, segment_bytes: int,
                 log: logging.Logger, name: str) -> None:
        """Takes the lock (LogError when another process holds it) and recovers every
        segment. `name` ("spool", "outbox") starts every log line."""
        self.path = Path(path)
        self.suffix, self.max_bytes, self.segment_bytes = suffix, max_bytes, segment_bytes
        self.log, self.name = log, name
        self.path.mkdir(parents=True, exist_ok=True)
        self.cond = threading.Condition()
        self._append_lock = threading.Lock()
        self._lock_fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise LogError(f"{name} {self.path} is in use by another collector") from None
        self.holes: dict[int, dict[int, int]] = {}  # segment -> {start: end} of damage
        self.quarantined = {"records": 0, "bytes": 0}
        self.cut = 0  # bytes of torn tail cut off at open
        try:
            self.segments = sorted(int(p.stem) for p in self.path.glob(f"*{suffix}")
                                   if p.stem.isdigit()) or [1]
            self.sizes: dict[int, int] = {}
            self.scanned: dict[int, Scan] = {n: self._recover(n) for n in self.segments}
            self._report()
            self._fd = os.open(self.seg_path(self.segments[-1]),
                               os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self.closed = False

    # -- open ------------------------------------------------------------------------------

    def _recover(self, n: int) -> Scan:
        path = self.seg_path(n)
        data = path.read_bytes() if path.exists() else b""
        found = scan(data)
        for off, end in found.damaged:
            self._quarantine(n, off, data[off:end], "failed its checksum")
        size = len(data)
        if found.tail is not None:
            off, end = found.tail
            if n == self.segments[-1]:
                bad, _ = corrupt_copy(self.path, path.stem, off, data[off:end])
                self.cut += end - off
                self.log.warning("%s: cut %d bytes after the last whole record of %s (a crash "
                                 "mid-append, never acknowledged, or a damaged last record); "
                                 "copy in %s", self.name, end - off, path.name, bad)
                with open(path, "r+b") as f:
                    f.truncate(off)
                    os.fsync(f.fileno())
                size = off
            else:
                self._quarantine(n, off, data[off:end], "failed its checksum, nothing after it")
        self.sizes[n] = size
        return found

    def _report(self) -> None:
        """One line for a person: what recovery kept and what it set aside."""
        if not self.quarantined["records"] and not self.cut:
            return
        kept = sum(len(s.records) for s in self.scanned.values())
        kept_bytes = sum(s.kept_bytes for s in self.scanned.values())
        (self.log.error if self.quarantined["records"] else self.log.warning)(
            "%s %s recovered: kept %d records (%d bytes), quarantined %d damaged (%d bytes), "
            "cut a torn tail of %d bytes; copies in %s", self.name, self.path, kept,
            kept_bytes, self.quarantined["records"], self.quarantined["bytes"], self.cut,
            self.path / "corrupt")

    def _quarantine(self, n: int, off: int, data: bytes, why: str) -> None:
        """Remember [off, off + len(data)) of segment n as a hole; its bytes to corrupt/."""
        bad, new = corrupt_copy(self.path, self.seg_path(n).stem, off, data)
        self.holes.setdefault(n, {})[off] = off + len(data)
        self.quarantined["records"] += 1
        self.quarantined["bytes"] += len(data)
        self.log.error("%s: a record in %s at byte %d %s: %d bytes moved to %s%s and skipped",
                       self.name, self.seg_path(n).name, off, why, len(data), bad,
                       "" if new else " (already there)")

    # -- writer ----------------------------------------------------------------------------

    def used(self) -> int:
        with self.cond:
            return sum(self.sizes.values())

    def append(self, blobs: list[bytes]) -> list[tuple[int, int, int]]:
        """Write framed records durably (one fsync), all or nothing, in one segment; their
        (segment, offset, end). LogFull when they do not fit now, LogError when they never
        could, OSError from the disk (nothing written)."""
        data = b"".join(blobs)
        with self._append_lock:
            with self.cond:
                if len(data) > self.max_bytes:
                    raise LogError(f"{len(data)} bytes, more than the whole {self.name} "
                                   f"(max_bytes = {self.max_bytes})")
                used = sum(self.sizes.values())
                if used + len(data) > self.max_bytes:
                    raise LogFull(len(data), used, self.max_bytes)
                n = self.segments[-1]
                if self.sizes[n] and self.sizes[n] + len(data) > self.segment_bytes:
                    n = self._rotate()
                start = self.sizes[n]
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
                os.fsync(self._fd)
            except OSError:
                try:
                    os.ftruncate(self._fd, start)  # no half record left for a reader
                except OSError:
                    self.log.exception("%s: could not cut a failed append back in %s",
                                       self.name, self.seg_path(n))
                raise
            refs, off = [], start
            for blob in blobs:
                refs.append((n, off, off + len(blob)))
                off += len(blob)
            with self.cond:
                self.sizes[n] = off
                self.cond.notify_all()
            return refs

    def _rotate(self) -> int:
        os.close(self._fd)
        n = self.segments[-1] + 1
        self._fd = os.open(self.seg_path(n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fsync_dir(self.path)
        self.segments.append(n)
        self.sizes[n] = 0
        return n

    def wait_for_space(self, needed: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(
                lambda: self.closed or sum(self.sizes.values()) + needed <= self.max_bytes,
                timeout)

    # -- readers ---------------------------------------------------------------------------

    def records(self, n: int, off: int, end: int) -> Iterator[Record]:
        """The records of segment n from `off` up to `end`, stepping over holes; damage found
        now (after open: a disk fault) is quarantined like damage found at open."""
        holes = self.holes.get(n, {})
        with open(self.seg_path(n), "rb") as f:
            while off < end:
                if off in holes:
                    off = holes[off]
                    continue
                f.seek(off)
                head = f.read(HEADER.size)
                size = HEADER.unpack(head)[0] if len(head) == HEADER.size else end
                payload = f.read(size) if off + HEADER.size + size <= end else b""
                if len(head) == HEADER.size and payload and holds(head, payload):
                    yield Record(n, off, off + HEADER.size + size, HEADER.unpack(head)[1],
                                 payload)
                    off += HEADER.size + size
                    continue
                f.seek(off)
                rest = f.read(end - off)
                nxt = resync(rest, 1)
                stop = end if nxt is None else off + nxt
                self.quarantine(n, off, stop, "failed its checksum")
                off = stop

    def read(self, n: int, off: int, end: int) -> bytes | None:
        """The payload of the record at [off, end) of segment n; None (and quarantined) when
        it no longer passes its checksum."""
        if off in self.holes.get(n, {}):
            return None
        with open(self.seg_path(n), "rb") as f:
            f.seek(off)
            blob = f.read(end - off)
        if len(blob) > HEADER.size and holds(blob[:HEADER.size], blob[HEADER.size:]):
            return blob[HEADER.size:]
        self.quarantine(n, off, end, "failed its checksum")
        return None

    def quarantine(self, n: int, off: int, end: int, why: str) -> None:
        """Set a record aside (its bytes to corrupt/): damaged, or unreadable to its user."""
        with open(self.seg_path(n), "rb") as f:
            f.seek(off)
            data = f.read(end - off)
        with self.cond:
            self._quarantine(n, off, data, why)

    def end_of(self, n: int) -> int:
        return self.sizes.get(n, 0)

    # -- cleanup ---------------------------------------------------------------------------

    def drop(self, n: int) -> None:
        """Delete segment n (never the one being written): every reader has passed it."""
        if n == self.segments[-1]:
            return
        self.seg_path(n).unlink(missing_ok=True)
        self.segments.remove(n)
        self.sizes.pop(n, None)
        self.holes.pop(n, None)
        self.scanned.pop(n, None)

    def close(self) -> None:
        with self.cond:
            if self.closed:
                return
            self.closed = True
            self.cond.notify_all()
        os.close(self._fd)
        os.close(self._lock_fd)

    def seg_path(self, n: int) -> Path:
        return self.path / f"{n:020d}{self.suffix}"
