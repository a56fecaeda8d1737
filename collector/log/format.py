"""The log's record framing, version 1 (the format the spool and the outboxes have always
written, so a deployed collector's segments read back unchanged).

A record is `[u32 payload length][u32 item count][u32 crc32][payload]`, little-endian. The CRC
covers the length and the count as well as the payload, so a flipped bit anywhere in a record,
its header included, fails the check: a damaged length can neither pass nor send the reader to
a wrong offset unnoticed. The payload is JSON (an array or an object); the scan that resyncs
after damage uses that to skip offsets that cannot start a record without computing a CRC.
"""

from __future__ import annotations

import re
import struct
import zlib

HEADER = struct.Struct("<III")  # payload length, item count, crc32
COUNTS = struct.Struct("<II")
VERSION = 1
_OPENERS = re.compile(rb"[\[{]")  # a payload's first byte


def frame(payload: bytes, count: int) -> bytes:
    """One record holding `payload` (JSON, `count` items)."""
    crc = zlib.crc32(payload, zlib.crc32(COUNTS.pack(len(payload), count)))
    return HEADER.pack(len(payload), count, crc) + payload


def holds(head: bytes, payload: bytes) -> bool:
    """Whether `payload` is the whole payload `head` announces, with a matching CRC."""
    size, count, crc = HEADER.unpack(head)
    return len(payload) == size and \
        zlib.crc32(payload, zlib.crc32(COUNTS.pack(size, count))) == crc


def record_at(data: bytes | memoryview, off: int) -> tuple[int, int] | None:
    """(end offset, item count) of the whole, valid record at `off` in `data`, else None."""
    if off + HEADER.size > len(data):
        return None
    size, count, crc = HEADER.unpack_from(data, off)
    end = off + HEADER.size + size
    if size == 0 or end > len(data) or count > size or data[off + HEADER.size] not in b"[{":
        return None
    payload = data[off + HEADER.size:end]
    if zlib.crc32(payload, zlib.crc32(COUNTS.pack(size, count))) != crc:
        return None
    return end, count


def resync(data: bytes, start: int) -> int | None:
    """The first offset at or after `start` where a whole record's checksum holds: where good
    records resume after damage. None when no record starts after `start`."""
    for m in _OPENERS.finditer(data, start + HEADER.size):
        off = m.start() - HEADER.size
        if record_at(data, off) is not None:
            return off
    return None
