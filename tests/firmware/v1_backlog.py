"""Backlog files as the firmware before the compact records wrote them (format 1), built byte
by byte from firmware/station/record_v1.py's description: what a station updated in the field
finds on its flash."""

from __future__ import annotations

import struct

from hil.modbus_rtu import crc16


def v1_header(params: list[tuple[str, str]], minmax: bool = False) -> bytes:
    """A format 1 segment header: "QB", 1, flags, u16 length, count, (name, unit)s, CRC."""
    body = bytearray(b"QB") + bytes([1, 1 if minmax else 0, 0, 0, len(params)])
    for name, unit in params:
        body += bytes([len(name)]) + name.encode() + bytes([len(unit)]) + unit.encode()
    struct.pack_into("<H", body, 4, len(body) + 2)
    return bytes(body) + struct.pack("<H", crc16(bytes(body)))


def v1_slot(t: int, p: int, rflags: int, cols: list[tuple]) -> bytes:
    """cols: (m, d, status, flags, n) per parameter; d 7 is null, the value m / 10**d."""
    body = bytearray(struct.pack("<I", t) + struct.pack("<I", p)[:3] + bytes([rflags]))
    for m, d, status, flags, n in cols:
        v = d << 21 | (m & 0x1FFFFF)
        body += struct.pack("<I", v)[:3] + struct.pack("<H", status << 14 | flags << 11 | n)
    return bytes(body) + struct.pack("<H", crc16(bytes(body)))


def v1_cursor(seg: int, idx: int, dropped: int) -> bytes:
    body = struct.pack("<III", seg, idx, dropped)
    return body + struct.pack("<H", crc16(body))
