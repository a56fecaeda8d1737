"""The spool's on-disk format: records of readings and points, and atomic small files.

A record is `[u32 payload length][u32 item count][u32 crc32][payload]`, little-endian; the CRC
covers the length, the count and the payload, so a torn or damaged record never passes. The
payload is compact JSON: a reading as the list of its FIELDS, a point as
{"p": [measurement, tags, fields, time, note]} (JSON keeps 1 and 1.0 apart, so an integer field
stays an integer).
"""

from __future__ import annotations

import json
import operator
import os
import struct
import zlib
from pathlib import Path

from collector.contracts import Point, Reading

HEADER = struct.Struct("<III")  # payload length, item count, crc32
COUNTS = struct.Struct("<II")
SUFFIX = ".seg"
FIELDS = ("station", "kind", "param", "unit", "time", "value", "status", "qc", "qc_bits", "n",
          "flags", "min", "max", "raw")

Item = Reading | Point
_ROW = operator.attrgetter(*FIELDS)  # a tuple, written as the same JSON list
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def encode(items: list[Item]) -> bytes:
    return _COMPACT.encode([_ROW(r) if isinstance(r, Reading) else
                            {"p": [r.measurement, r.tags, r.fields, r.time, r.note]}
                            for r in items]).encode()


def _reading(row: list) -> Reading:
    if len(row) != len(FIELDS):
        raise ValueError(f"a spooled reading has {len(row)} fields, not {len(FIELDS)}")
    (station, kind, param, unit, time, value, status, qc, qc_bits, n, flags, lo, hi,
     raw) = row
    return Reading(station, kind, param, unit, time, value, status, qc, n, flags, lo, hi,
                   qc_bits, raw)


def decode(payload: bytes) -> list[Item]:
    return [_reading(row) if isinstance(row, list) else Point(*row["p"])
            for row in json.loads(payload)]


def record(payload: bytes, count: int) -> bytes:
    return HEADER.pack(len(payload), count,
                       zlib.crc32(payload, zlib.crc32(COUNTS.pack(len(payload), count)))) + payload


def parse_header(head: bytes, body: bytes) -> bool:
    """Whether `body` is the whole payload the header announces, with a matching CRC."""
    size, count, crc = HEADER.unpack(head)
    return len(body) == size and zlib.crc32(body, zlib.crc32(COUNTS.pack(size, count))) == crc


def next_record(data: bytes, off: int) -> int | None:
    """Offset after the valid record at `off` in `data`, else None."""
    if off + HEADER.size > len(data):
        return None
    head = data[off:off + HEADER.size]
    end = off + HEADER.size + HEADER.unpack(head)[0]
    return end if parse_header(head, data[off + HEADER.size:end]) else None


def resumes_at(data: bytes, off: int) -> int | None:
    """Where good records resume after a damaged one at `off`: the offset its header names,
    when from there to the end of `data` every record is whole and valid. None when the
    header itself cannot be trusted (or nothing valid follows): skip to the end instead."""
    if off + HEADER.size > len(data):
        return None
    pos = off + HEADER.size + HEADER.unpack(data[off:off + HEADER.size])[0]
    if pos > len(data):
        return None
    first = pos
    while pos < len(data):
        nxt = next_record(data, pos)
        if nxt is None:
            return None
        pos = nxt
    return first


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: a reader sees the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
