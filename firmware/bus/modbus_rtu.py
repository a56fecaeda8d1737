# Modbus RTU master framing: requests for functions 03/04/06, CRC-16/MODBUS, and finding a
# slave's reply in whatever arrived on the line.
#
# Replies are hunted byte by byte (like pymodbus's RTU framer): a transceiver may emit a 0x00
# when it changes direction, another slave's frame or line noise may precede ours, so a reply is
# the first position holding our address, our function (or its exception form), a consistent
# length and a good CRC. Nothing here allocates in the success path.

from array import array
from micropython import const

_READ_HOLDING = const(3)
_READ_INPUT = const(4)
_WRITE_SINGLE = const(6)
MAX_READ = 125  # registers in one read (the reply must fit 256 bytes)

NEED_MORE = -1


class ModbusError(Exception):
    """A valid exception reply: args[0] is the exception code (2 bad address, 4 device failure)."""


def _table():
    """CRC-16/MODBUS of each 4-bit value: two lookups per byte. A byte-wide table would be
    twice as fast and cost 512 B of heap; the station checks a few hundred bytes a minute."""
    t = array("H", bytes(32))
    for i in range(16):
        c = i
        for _ in range(4):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        t[i] = c
    return t


_CRC = _table()


def crc16(buf, start, end):
    """CRC-16/MODBUS of buf[start:end]; sent low byte first."""
    c = 0xFFFF
    t = _CRC
    for i in range(start, end):
        c ^= buf[i]
        c = (c >> 4) ^ t[c & 0xF]
        c = (c >> 4) ^ t[c & 0xF]
    return c


def _seal(buf, n):
    c = crc16(buf, 0, n)
    buf[n] = c & 0xFF
    buf[n + 1] = c >> 8
    return n + 2


def build_read(buf, addr, fn, reg, count):
    """Read `count` registers from `reg` with function 3 or 4 into buf[0:8]; returns 8."""
    if fn != _READ_HOLDING and fn != _READ_INPUT:
        raise ValueError("modbus: function %d is not 3 or 4" % fn)
    if not 1 <= count <= MAX_READ:
        raise ValueError("modbus: %d registers is not 1..%d" % (count, MAX_READ))
    buf[0] = addr
    buf[1] = fn
    buf[2] = reg >> 8
    buf[3] = reg & 0xFF
    buf[4] = count >> 8
    buf[5] = count & 0xFF
    return _seal(buf, 6)


def build_write(buf, addr, reg, value):
    """Write one holding register (function 6) into buf[0:8]; returns 8."""
    buf[0] = addr
    buf[1] = _WRITE_SINGLE
    buf[2] = reg >> 8
    buf[3] = reg & 0xFF
    buf[4] = (value >> 8) & 0xFF
    buf[5] = value & 0xFF
    return _seal(buf, 6)


def reply_len(fn, count):
    """Bytes in a normal reply: address, function, byte count, data, CRC (06 echoes 8 bytes)."""
    return 8 if fn == _WRITE_SINGLE else 5 + 2 * count


def _crc_ok(buf, start, n):
    c = crc16(buf, start, start + n - 2)
    return buf[start + n - 2] == c & 0xFF and buf[start + n - 1] == c >> 8


def find_reply(buf, n, addr, fn, length):
    """Offset of the first whole, valid reply from `addr` in buf[0:n], or NEED_MORE.

    Raises ModbusError(code) when that reply is an exception. Data registers of a read start
    at offset + 3.
    """
    # An incomplete candidate does not stop the hunt: a shorter exception reply or a whole
    # frame may follow a false start.
    i = 0
    last = n - 1
    while i < last:
        if buf[i] == addr:
            f = buf[i + 1]
            if f == fn | 0x80:
                if i + 5 <= n and _crc_ok(buf, i, 5):
                    raise ModbusError(buf[i + 2])
            elif f == fn and i + length <= n:
                if (fn == _WRITE_SINGLE or buf[i + 2] == length - 5) and _crc_ok(buf, i, length):
                    return i
        i += 1
    return NEED_MORE
