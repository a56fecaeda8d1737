"""What counts as sent after a firmware SIGKILL: every whole record in its backlog, not the one
the kill cut short (read the way the firmware recovers it: fixed slots, CRC per slot)."""

from __future__ import annotations

import struct

from hil.modbus_rtu import crc16
from quantrac.bench.firmware_kill import backlog_times


def segment(n_params: int) -> bytes:
    body = bytearray(b"QB\x01\x00\x00\x00") + bytes([n_params])
    for k in range(n_params):
        for s in (f"p{k}", "ppb"):
            body += bytes([len(s)]) + s.encode()
    n = len(body) + 2
    body[4:6] = struct.pack("<H", n)
    return bytes(body) + struct.pack("<H", crc16(bytes(body)))


def slot(t: int, n_params: int) -> bytes:
    body = struct.pack("<I", t) + (300).to_bytes(3, "little") + b"\x00" + b"\x01" * 5 * n_params
    return body + struct.pack("<H", crc16(body))


def test_whole_slots_count_and_the_torn_one_does_not(tmp_path):
    (tmp_path / "00000001.seg").write_bytes(segment(2) + slot(600, 2) + slot(900, 2))
    damaged = bytearray(slot(1500, 2))
    damaged[9] ^= 0xFF
    (tmp_path / "00000002.seg").write_bytes(segment(2) + slot(1200, 2) + bytes(damaged)
                                            + slot(1800, 2)[:7])  # the append the kill cut
    (tmp_path / "00000003.seg").write_bytes(segment(2)[:5])  # a header cut short
    (tmp_path / "cursor").write_bytes(b"\x00" * 12)
    assert backlog_times(tmp_path) == {600, 900, 1200}


def segment2(widths: list[int], nb: int = 6) -> bytes:
    """A format 2 header: per parameter its value code's width (firmware/README.md)."""
    body = bytearray(b"QB\x02\x00\x00\x00") + bytes([len(widths), nb]) + (300).to_bytes(3, "little")
    for k, w in enumerate(widths):
        for s in (f"p{k}", "ppb"):
            body += bytes([len(s)]) + s.encode()
        body += bytes([0, 1, w]) + struct.pack("<i", 0)
    body[4:6] = struct.pack("<H", len(body) + 2)
    return bytes(body) + struct.pack("<H", crc16(bytes(body)))


def slot2(t: int, size: int) -> bytes:
    body = struct.pack("<I", t) + b"\x5a" * (size - 6)
    return body + struct.pack("<H", crc16(body))


def test_compact_slots_are_sized_from_their_header(tmp_path):
    # t 32 bits + rebased 1, then per parameter n 6 + 4 + the value's bits: 33 + 26 + 24 = 83
    # bits, 11 bytes, and the CRC
    size = 13
    (tmp_path / "00000001.seg").write_bytes(segment2([16, 14]) + slot2(600, size)
                                            + slot2(900, size) + slot2(1200, size)[:5])
    assert backlog_times(tmp_path) == {600, 900}
