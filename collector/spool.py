"""A bounded, fsync'd on-disk queue of readings (and derived points) between the processors
and the sinks, on the collector's segmented log (collector/log/).

The worker appends each processed batch (one write and one fsync per batch) before the batch's
messages are acknowledged to the broker; each sink reads from its own cursor, oldest first, and
moves the cursor only after the sink has the readings. Whatever happens in between (a database
down for hours, a SIGKILL, a power cut) the readings are either still here or already stored.

On disk, under one folder: `<n>.seg` segments whose records hold a batch's readings as JSON
(spool_format.py), `cursor-<consumer>.json`, `lock`, and `corrupt/`: a damaged record's bytes,
set aside while every other record is still read (collector/log/README.md). Segments every
consumer has passed are deleted. Disk use is capped at `max_bytes`: above `high_water` of it
the listeners hear about it, and a full spool refuses appends (`SpoolFull`), so the pipeline
stops acknowledging and the broker keeps the messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from collector.log import LogError, LogFull, Position, SegmentLog, cursors, frame
from collector.spool_format import SUFFIX, Item, decode, encode

log = logging.getLogger("quantrac.collector.spool")

LOW_WATER_GAP = 0.1  # hysteresis: "back to normal" only this far below high_water
# Items the sinks may read from memory instead of decoding the segment again: what the worker
# appended and no consumer has stored yet, up to this many (a long database outage falls back
# to reading the segments, as after a restart).
TAIL_ITEMS = 200_000

Listener = Callable[[dict], None]
__all__ = ["Listener", "Position", "Spool", "SpoolError", "SpoolFull"]


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
        try:
            self._log = SegmentLog(self.path, suffix=SUFFIX, max_bytes=max_bytes,
                                   segment_bytes=segment_bytes, log=log, name="spool")
        except LogError as e:
            raise SpoolError(f"{e}; give each collector its own [collector] data_dir") from None
        self._cond = self._log.cond
        self._listeners: list[Listener] = []
        self._high = False
        self.appended = 0  # readings appended since open
        # (segment, offset) → (end, items) of records appended since open, oldest first: the
        # same items the file holds, so a sink that keeps up never decodes what was just encoded
        self._tail: dict[Position, tuple[int, list[Item]]] = {}
        self._tail_items = 0
        try:
            self._cursors = {c: self._load_cursor(c) for c in consumers}
            self._drop_consumed()
            self._depth = {c: self._count_from(self._cursors[c]) for c in consumers}
            self._log.scanned.clear()
        except BaseException:
            self._log.close()
            raise
        self._check_level()

    # -- writer ----------------------------------------------------------------------------

    def append(self, items: list[Item]) -> None:
        """Write `items` durably (one fsync), all or nothing. SpoolFull when they do not fit
        now; SpoolError when they never could; OSError from the disk (nothing written)."""
        if not items:
            return
        records = self._records(items)
        blobs = [frame(p, len(part)) for p, part in records]
        try:
            refs = self._log.append(blobs)
        except LogFull as e:
            raise SpoolFull(e.needed, e.used, e.max_bytes) from None
        except LogError:
            raise SpoolError(f"{len(items)} readings need {sum(map(len, blobs))} bytes, more "
                             f"than the whole spool (max_bytes = {self.max_bytes})") from None
        with self._cond:
            self.appended += len(items)
            for c in self._depth:
                self._depth[c] += len(items)
            if self._tail_items + len(items) <= TAIL_ITEMS:
                for (n, off, end), (_payload, part) in zip(refs, records, strict=True):
                    self._tail[(n, off)] = (end, part)
                self._tail_items += len(items)
        self._check_level()

    def _records(self, items: list[Item]) -> list[tuple[bytes, list[Item]]]:
        """(payload, its items): one, or halves until each fits in half a segment."""
        payload = encode(items)
        if len(payload) <= self.segment_bytes // 2 or len(items) == 1:
            return [(payload, list(items))]
        half = len(items) // 2
        return self._records(items[:half]) + self._records(items[half:])

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
            if self._at_end(pos) and timeout > 0 and not self._log.closed:
                self._cond.wait(timeout)
            ends = {n: self._log.end_of(n) for n in self._log.segments if n >= pos[0]}
        out: list[Item] = []
        seg, off = pos
        for n in sorted(ends):
            if len(out) >= max_readings:
                break
            if n > seg:
                seg, off = n, 0
            off = self._read_segment(n, off, ends[n], out, max_readings)
        return out, (seg, off)

    def _read_segment(self, n: int, off: int, end: int, out: list[Item],
                      max_readings: int) -> int:
        """Whole records of segment n from `off` into `out` until `end` or `max_readings`:
        from the tail in memory where it has them, else decoded from the file. Where the
        reading stopped."""
        while off < end and len(out) < max_readings:
            with self._cond:
                cached = self._tail.get((n, off))
            if cached is not None:
                off = cached[0]
                out.extend(cached[1])
                continue
            for rec in self._log.records(n, off, end):
                off = rec.end
                try:
                    out.extend(decode(rec.payload))
                except (ValueError, TypeError, KeyError) as e:
                    self._log.quarantine(n, rec.offset, rec.end, f"is undecodable ({e})")
                    continue
                if len(out) >= max_readings or (n, off) in self._tail:
                    break
            else:
                off = max(off, end)
        return off

    def advance(self, consumer: str, pos: Position, items: int = 0) -> None:
        """`consumer` has stored everything before `pos` (`items` readings and points since
        its last advance): persist the cursor atomically, then delete the segments every
        consumer has passed."""
        cursors.save(self.path, consumer, pos)
        with self._cond:
            self._cursors[consumer] = pos
            self._depth[consumer] = max(0, self._depth[consumer] - items)
            self._drop_consumed()
            self._cond.notify_all()
        self._check_level()

    def _at_end(self, pos: Position) -> bool:
        return pos[0] >= self._log.segments[-1] and pos[1] >= self._log.end_of(pos[0])

    def _drop_consumed(self) -> None:
        oldest = min(self._cursors.values(), default=(self._log.segments[-1], 0))
        while self._tail:
            pos = next(iter(self._tail))
            if pos >= oldest:
                break
            self._tail_items -= len(self._tail.pop(pos)[1])
        for n in [n for n in self._log.segments[:-1] if n < oldest[0]]:
            self._log.drop(n)

    # -- capacity --------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """`listener(stats)` runs when use crosses high_water (stats["high_water"] True) and
        when it falls back (False): the alert stage's hook."""
        self._listeners.append(listener)

    def wait_for_space(self, needed: int, timeout: float) -> bool:
        return self._log.wait_for_space(needed, timeout)

    def _check_level(self) -> None:
        with self._cond:
            used = self._log.used()
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
            return {"bytes": self._log.used(), "max_bytes": self.max_bytes,
                    "high_water": self._high, "segments": len(self._log.segments),
                    "appended": self.appended,
                    "depth": max(self._depth.values(), default=0),
                    "pending_bytes": {c: self._pending(c) for c in self.consumers},
                    "quarantined": dict(self._log.quarantined)}

    def pending_bytes(self, consumer: str) -> int:
        with self._cond:
            return self._pending(consumer)

    def _pending(self, consumer: str) -> int:
        seg, off = self._cursors[consumer]
        return sum(self._log.end_of(n) for n in self._log.segments if n >= seg) - (
            off if seg in self._log.segments else 0)

    # -- open / close ----------------------------------------------------------------------

    def close(self) -> None:
        self._log.close()

    def _count_from(self, pos: Position) -> int:
        """Items (readings and points) after `pos`, from the records found at open."""
        return sum(count for n, found in self._log.scanned.items() if n >= pos[0]
                   for off, _, count in found.records if n > pos[0] or off >= pos[1])

    def _load_cursor(self, consumer: str) -> Position:
        segments = self._log.segments
        first = (segments[0], 0)
        pos = cursors.load(self.path, consumer, log, "reading from the oldest segment (stored "
                           "readings may be written again, which overwrites them)")
        if pos is None or pos < first:
            return first
        if pos[0] >= segments[-1]:
            end = self._log.end_of(segments[-1])
            return (segments[-1], min(pos[1], end) if pos[0] == segments[-1] else end)
        return pos
