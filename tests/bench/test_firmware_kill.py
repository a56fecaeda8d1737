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
