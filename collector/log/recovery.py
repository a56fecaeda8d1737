"""Reading a segment back after a crash or a disk fault: which records are whole, which bytes
are damaged, and where a torn tail starts.

A record that fails its checksum (or its header) is damage: its bytes go to `corrupt/` for a
person, and reading goes on at the next offset where a whole record's checksum holds (found
by scanning forward byte by byte: a flipped length field names a wrong end, so it is not
trusted). Only bytes after the last good record of the newest segment are a torn tail: a
crash mid-append, never acknowledged; they are cut off (a copy kept in `corrupt/` all the
same, as a damaged last record looks the same).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from collector.log.format import record_at, resync

Span = tuple[int, int]  # [start, end) byte offsets in one segment


@dataclass
class Scan:
    records: list[tuple[int, int, int]] = field(default_factory=list)  # (offset, end, count)
    damaged: list[Span] = field(default_factory=list)  # good records resume at each end
    tail: Span | None = None  # nothing valid from here to the end of the segment

    @property
    def kept_bytes(self) -> int:
        return sum(end - off for off, end, _ in self.records)


def scan(data: bytes) -> Scan:
    out = Scan()
    off = 0
    while off < len(data):
        got = record_at(data, off)
        if got is not None:
            out.records.append((off, got[0], got[1]))
            off = got[0]
            continue
        nxt = resync(data, off + 1)
        if nxt is None:
            out.tail = (off, len(data))
            break
        out.damaged.append((off, nxt))
        off = nxt
    return out


def corrupt_copy(folder: Path, segment: str, off: int, data: bytes) -> tuple[Path, bool]:
    """Keep `data` (bytes of `segment` from `off`) as `corrupt/<segment>-<off>.bin`; whether
    this call wrote it (False: an earlier open already kept the same bytes)."""
    bad = folder / "corrupt" / f"{segment}-{off}.bin"
    bad.parent.mkdir(exist_ok=True)
    if bad.exists() and bad.stat().st_size == len(data):
        return bad, False
    bad.write_bytes(data)
    return bad, True
