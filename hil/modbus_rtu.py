"""Modbus RTU framing, slave side: CRC-16, request parsing, normal and exception replies.

Written for the simulators only and independent of firmware/ on purpose: two implementations
of one protocol that agree with each other and with minimalmodbus are worth more than one
shared by both ends of the wire.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

READ_HOLDING = 3
READ_INPUT = 4
WRITE_SINGLE = 6

ILLEGAL_FUNCTION = 1
ILLEGAL_DATA_ADDRESS = 2
ILLEGAL_DATA_VALUE = 3
SLAVE_DEVICE_FAILURE = 4

MAX_READ_COUNT = 125  # registers in one read reply (the 256-byte ADU limit)


class FrameError(ValueError):
    """Bytes that are not a whole Modbus RTU frame with a good CRC (a slave stays silent)."""


class ModbusError(Exception):
    """A well-formed request this slave refuses: answered with an exception reply."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(f"exception {code:02d}: {why}")
        self.code = code


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ b) & 0xFF]
    return crc


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<H", crc16(body))


def crc_ok(frame: bytes) -> bool:
    return len(frame) >= 4 and crc16(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]


def request_length(buf: bytes) -> int | None:
    """The length of the request starting at buf[0], when its function code tells it.

    None when the function has no fixed request layout (the silent gap must end the frame) or
    when more bytes are needed to know (function 15/16 carry a byte count at offset 6).
    """
    if len(buf) < 2:
        return None
    fn = buf[1]
    if fn in (1, 2, 3, 4, 5, 6):
        return 8
    if fn in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return None


@dataclass(frozen=True)
class Request:
    slave: int
    function: int
    address: int = 0
    count: int = 0  # registers to read (03/04)
    value: int = 0  # register value to write (06)
    data: bytes = b""  # the PDU after the function code, for functions we do not parse


def parse_request(frame: bytes) -> Request:
    """A CRC-checked request. FrameError for bad CRC or a frame too short to be one."""
    if len(frame) < 4:
        raise FrameError(f"{len(frame)} bytes is shorter than any Modbus RTU frame")
    if not crc_ok(frame):
        raise FrameError(f"bad CRC in {frame.hex(' ')}")
    slave, fn = frame[0], frame[1]
    body = frame[2:-2]
    if fn in (READ_HOLDING, READ_INPUT, WRITE_SINGLE):
        if len(body) != 4:
            raise FrameError(f"function {fn} needs 4 data bytes, got {len(body)}")
        address, word = struct.unpack(">HH", body)
        if fn == WRITE_SINGLE:
            return Request(slave, fn, address=address, value=word, data=body)
        return Request(slave, fn, address=address, count=word, data=body)
    return Request(slave, fn, data=body)


def read_reply(slave: int, function: int, registers: list[int]) -> bytes:
    body = struct.pack(f">BBB{len(registers)}H", slave, function, 2 * len(registers), *registers)
    return with_crc(body)


def write_single_reply(slave: int, address: int, value: int) -> bytes:
    """A write-single reply echoes the request."""
    return with_crc(struct.pack(">BBHH", slave, WRITE_SINGLE, address, value))


def exception_reply(slave: int, function: int, code: int) -> bytes:
    return with_crc(bytes((slave, (function | 0x80) & 0xFF, code)))


def read_request(slave: int, function: int, address: int, count: int) -> bytes:
    """A master's read request (used by tests and a bench master, never by the slaves)."""
    return with_crc(struct.pack(">BBHH", slave, function, address, count))
