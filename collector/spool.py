"""A bounded, fsync'd on-disk queue of readings (and derived points) between the processors
and the sinks.

The worker appends each processed batch (one write and one fsync per batch) before the batch's
messages are acknowledged to the broker; each sink reads from its own cursor, oldest first, and
moves the cursor only after the sink has the readings. Whatever happens in between (a database
down for hours, a SIGKILL, a power cut) the readings are either still here or already stored.

On disk, under one folder:

    00000000000000000001.seg     segments: records [u32 length][u32 items][u32 crc32][JSON]
    cursor-<consumer>.json       {"segment": n, "offset": bytes}, replaced atomically
    lock                         flock'd by the collector using the spool
    corrupt/                     bytes cut out of a damaged segment, kept for a person

A torn record at the end of the newest segment (a crash mid-write) fails its CRC and is cut
off at open. Segments every consumer has passed are deleted. Disk use is capped at `max_bytes`:
above `high_water` of it the listeners hear about it, and a full spool refuses appends
(`SpoolFull`), so the pipeline stops acknowledging and the broker keeps the messages.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from collector.spool_format import (
    HEADER,
    SUFFIX,
    Item,
    decode,
    encode,
    fsync_dir,
    next_record,
    parse_header,
    record,
    resumes_at,
    write_atomic,
)

log = logging.getLogger("quantrac.collector.spool")

LOW_WATER_GAP = 0.1  # hysteresis: "back to normal" only this far below high_water

Position = tuple[int, int]  # (segment number, byte offset)
Listener = Callable[[dict], None]


class SpoolError(RuntimeError):
    """The spool cannot be used (in use by another collector, unreadable, too small)."""


class SpoolFull(SpoolError):
    """Appending `needed` bytes would pass max_bytes: wait for the sinks to consume."""

    def __init__(self, needed: int, used: int, max_bytes: int) -> None:
        super().__init__(f"spool full: {used} of {max_bytes} bytes used, {needed} more needed")
        self.needed = needed


class Spool:
    def __init__(self, path: Path | str, *, max_bytes: int = 1 << 30,
                 segment_bytes: int = 8 << 20, high_water: float = 0.8,
                 consumers: tuple[str, ...] = ("influxdb",)) -> None:
        self.path = Path(path)
        self.max_bytes, self.segment_bytes, self.high_water = max_bytes, segment_bytes, high_water
        self.consumers = consumers
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = self._take_lock()
        self._cond = threading.Condition()
        self._listeners: list[Listener] = []
        self._high = False
        self._closed = False
        self.appended = 0  # readings appended since open
        try:
            self._segments = sorted(int(p.stem) for p in self.path.glob(f"*{SUFFIX}")
                                    if p.stem.isdigit())
            if self._segments:
                self._end = self._recover(self._segments[-1])
            else:
                self._segments = [1]
                self._end = 0
            self._fd = os.open(self._seg_path(self._segments[-1]),
                               os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._cursors = {c: self._load_cursor(c) for c in consumers}
            self._sizes = {n: self._seg_path(n).stat().st_size for n in self._segments}
            self._drop_consumed()
            self._depth = {c: self._count_from(self._cursors[c]) for c in consumers}
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._check_level()

    # -- writer ----------------------------------------------------------------------------

    def append(self, items: list[Item]) -> None:
        """Write `items` durably (one fsync), all or nothing. SpoolFull when they do not fit
        now; SpoolError when they never could; OSError from the disk (nothing written)."""
        if not items:
            return
        data = b"".join(record(p, n) for p, n in self._records(items))
        with self._cond:
            if len(data) > self.max_bytes:
                raise SpoolError(f"{len(items)} readings need {len(data)} bytes, more than "
                                 f"the whole spool (max_bytes = {self.max_bytes})")
            used = sum(self._sizes.values())
            if used + len(data) > self.max_bytes:
                raise SpoolFull(len(data), used, self.max_bytes)
            if self._end and self._end + len(data) > self.segment_bytes:
                self._rotate()
            seg, start = self._segments[-1], self._end
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, start)  # no half record left for the reader to trip on
            except OSError:
                log.exception("spool: could not cut a failed append back in %s",
                              self._seg_path(seg))
            raise
        with self._cond:
            self._end = start + len(data)
            self._sizes[seg] = self._end
            self.appended += len(items)
            for c in self._depth:
                self._depth[c] += len(items)
            self._cond.notify_all()
        self._check_level()

    def _records(self, items: list[Item]) -> list[tuple[bytes, int]]:
        """(payload, item count): one, or halves until each fits in half a segment."""
        payload = encode(items)
        if len(payload) <= self.segment_bytes // 2 or len(items) == 1:
            return [(payload, len(items))]
        half = len(items) // 2
        return self._records(items[:half]) + self._records(items[half:])

    def _rotate(self) -> None:
        os.close(self._fd)
        n = self._segments[-1] + 1
        self._fd = os.open(self._seg_path(n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fsync_dir(self.path)
        self._segments.append(n)
        self._sizes[n] = 0
        self._end = 0

    # -- readers ---------------------------------------------------------------------------

    def cursor(self, consumer: str) -> Position:
        with self._cond:
            return self._cursors[consumer]

    def read(self, consumer: str, max_readings: int, timeout: float = 0.0,
             start: Position | None = None) -> tuple[list[Item], Position]:
        """Readings after `consumer`'s cursor (or after `start`, a position an earlier read
        returned), oldest first, whole records up to about `max_readings`, and the position
        to `advance` to once they are stored. Waits up to `timeout` seconds when there is
        nothing yet, then returns ([], the same position)."""
        with self._cond:
            pos = start or self._cursors[consumer]
            if self._at_end(pos) and timeout > 0 and not self._closed:
                self._cond.wait(timeout)
            ends = {n: (self._end if n == self._segments[-1] else self._sizes[n])
                    for n in self._segments if n >= pos[0]}
        out: list[Item] = []
        seg, off = pos
        while len(out) < max_readings:
            if seg not in ends or off >= ends[seg]:
                later = [n for n in sorted(ends) if n > seg]
                if not later:
                    break
                seg, off = later[0], 0
                continue
            got = self._read_record(seg, off, ends[seg])
            if isinstance(got, int):  # damaged: set aside, go on where good records resume
                off = got
                continue
            readings, off = got
            out.extend(readings)
        return out, (seg, off)

    def _read_record(self, seg: int, off: int, end: int) -> tuple[list[Item], int] | int:
        """(items, offset after them), or, for a damaged record, the offset to go on from."""
        with open(self._seg_path(seg), "rb") as f:
            f.seek(off)
            head = f.read(HEADER.size)
            size = HEADER.unpack(head)[0] if len(head) == HEADER.size else end
            payload = f.read(size) if off + HEADER.size + size <= end else b""
        if len(head) == HEADER.size and parse_header(head, payload):
            try:
                return decode(payload), off + HEADER.size + size
            except (ValueError, TypeError) as e:
                why = f"undecodable record ({e})"
        else:
            why = "bad length or CRC"
        return self._quarantine(seg, off, end, why)

    def _quarantine(self, seg: int, off: int, end: int, why: str) -> int:
        """A record inside data that was fsync'd is damaged (a disk fault, not a torn tail):
        keep its bytes for a person and return where good records resume (the end of the
        segment when its header cannot be trusted)."""
        with open(self._seg_path(seg), "rb") as f:
            f.seek(off)
            rest = f.read(end - off)
        resume = resumes_at(rest, 0)
        cut = end - off if resume is None else resume
        bad = self.path / "corrupt" / f"{seg:020d}-{off}.bin"
        bad.parent.mkdir(exist_ok=True)
        bad.write_bytes(rest[:cut])
        log.error("spool: %s in %s at byte %d: %d bytes moved to %s and skipped", why,
                  self._seg_path(seg).name, off, cut, bad)
        return off + cut

    def advance(self, consumer: str, pos: Position, items: int = 0) -> None:
        """`consumer` has stored everything before `pos` (`items` readings and points since
        its last advance): persist the cursor atomically, then delete the segments every
        consumer has passed."""
        doc = json.dumps({"segment": pos[0], "offset": pos[1]}).encode()
        write_atomic(self.path / f"cursor-{consumer}.json", doc)
        with self._cond:
            self._cursors[consumer] = pos
            self._depth[consumer] = max(0, self._depth[consumer] - items)
            self._drop_consumed()
            self._cond.notify_all()
        self._check_level()

    def _at_end(self, pos: Position) -> bool:
        return pos[0] >= self._segments[-1] and pos[1] >= self._end

    def _drop_consumed(self) -> None:
        oldest = min(self._cursors.values(), default=(self._segments[-1], 0))
        for n in [n for n in self._segments[:-1] if n < oldest[0]]:
            self._seg_path(n).unlink(missing_ok=True)
            self._segments.remove(n)
            self._sizes.pop(n, None)

    # -- capacity --------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """`listener(stats)` runs when use crosses high_water (stats["high_water"] True) and
        when it falls back (False): the alert stage's hook."""
        self._listeners.append(listener)

    def wait_for_space(self, needed: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: self._closed or sum(self._sizes.values()) + needed <= self.max_bytes,
                timeout)

    def _check_level(self) -> None:
        with self._cond:
            used = sum(self._sizes.values())
            level = used / self.max_bytes
            if not self._high and level >= self.high_water:
                self._high = True
            elif self._high and level < self.high_water - LOW_WATER_GAP:
                self._high = False
            else:
                return
        stats = self.stats()
        if stats["high_water"]:
            log.warning("spool above its high-water mark: %d of %d bytes (%.0f %%); the sinks "
                        "are behind, and at 100 %% the collector stops acknowledging",
                        used, self.max_bytes, 100 * level)
        else:
            log.info("spool back below its high-water mark: %d of %d bytes", used,
                     self.max_bytes)
        for listener in list(self._listeners):
            try:
                listener(stats)
            except Exception:
                log.exception("spool high-water listener failed")

    def stats(self) -> dict:
        with self._cond:
            used = sum(self._sizes.values())
            return {"bytes": used, "max_bytes": self.max_bytes, "high_water": self._high,
                    "segments": len(self._segments), "appended": self.appended,
                    "depth": max(self._depth.values(), default=0),
                    "pending_bytes": {c: self._pending(c) for c in self.consumers}}

    def pending_bytes(self, consumer: str) -> int:
        with self._cond:
            return self._pending(consumer)

    def _pending(self, consumer: str) -> int:
        seg, off = self._cursors[consumer]
        return sum(self._sizes[n] for n in self._segments if n >= seg) - (
            off if seg in self._sizes else 0)

    # -- open / close ----------------------------------------------------------------------

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        os.close(self._fd)
        os.close(self._lock_fd)

    def _seg_path(self, n: int) -> Path:
        return self.path / f"{n:020d}{SUFFIX}"

    def _take_lock(self) -> int:
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolError(f"spool {self.path} is in use by another collector; give each "
                             "collector its own [collector] data_dir") from None
        return fd

    def _recover(self, seg: int) -> int:
        """Length of the newest segment's valid records; a torn tail is cut off."""
        path = self._seg_path(seg)
        data = path.read_bytes()
        off = 0
        while (nxt := next_record(data, off)) is not None:
            off = nxt
        if off < len(data) and resumes_at(data, off) is not None:
            log.error("spool: a damaged record in %s at byte %d, followed by good ones: the "
                      "reader will set it aside", path.name, off)
            return len(data)
        if off < len(data):
            log.warning("spool: cutting a torn record (%d bytes) off the end of %s, left by "
                        "a crash mid-write; its messages were never acknowledged",
                        len(data) - off, path.name)
            with open(path, "r+b") as f:
                f.truncate(off)
                f.flush()
                os.fsync(f.fileno())
        return off

    def _count_from(self, pos: Position) -> int:
        """Items (readings and points) after `pos`, from the record headers alone."""
        total = 0
        for n in self._segments:
            if n < pos[0]:
                continue
            off, end = (pos[1] if n == pos[0] else 0), self._sizes[n]
            with open(self._seg_path(n), "rb") as f:
                while off + HEADER.size <= end:
                    f.seek(off)
                    size, count, _ = HEADER.unpack(f.read(HEADER.size))
                    total += count
                    off += HEADER.size + size
        return total

    def _load_cursor(self, consumer: str) -> Position:
        path = self.path / f"cursor-{consumer}.json"
        first = (self._segments[0], 0)
        try:
            doc = json.loads(path.read_text())
            pos = (int(doc["segment"]), int(doc["offset"]))
        except FileNotFoundError:
            return first
        except (ValueError, KeyError, TypeError) as e:
            log.error("spool: cursor %s unreadable (%s); reading from the oldest segment "
                      "(stored readings may be written again, which overwrites them)", path, e)
            return first
        if pos < first:
            return first
        if pos[0] >= self._segments[-1]:
            return (self._segments[-1], min(pos[1], self._end) if pos[0] == self._segments[-1]
                    else self._end)
        return pos
