# Records: closed windows -> a fixed-size binary slot (what the backlog stores), and slots ->
# protocol-v1 JSON (docs/protocol.md) in preallocated buffers when a message is built.
#
# Slot, little-endian, 10 + 5 bytes per parameter (+ 6 with min/max):
#   0 t u32 (end of the period, UTC s)   4 p u24 (s)   7 record flags (8: time rebased)
#   per parameter, in layout order: mean dec24, then u16 status << 14 | flags << 11 | n
#   (n saturates at 2047), then dec24 min and dec24 max when the layout keeps them
#   last 2: CRC-16/MODBUS of everything before
# dec24 is a decimal: bits 21-23 d, bits 0-20 a signed mantissa m; value m / 10**d for d 0-4,
# m * 1000 (d 5) or m * 10**6 (d 6); d 7 is null. The mantissa holds the digits the JSON would
# carry (the sensor's resolution, one more for means, 4 significant digits for float32
# channels), so a record read back from flash prints exactly as the live one would have.
#
# Layout: which parameter each slot column is (and its unit), also written as the header of
# each backlog segment so old records stay readable after a config change.

from array import array
from micropython import const

from bus.modbus_rtu import crc16

NULL = 7
_POW10 = (1, 10, 100, 1000, 10000)
_BIG = const(0xFFFFF)  # largest mantissa magnitude
MAGIC = b"QB"
VERSION = 1


def sig4(value):
    """Decimal places giving 4 significant digits, capped at 4 (float32 channels)."""
    a = -value if value < 0 else value
    if a >= 1000:
        return 0
    if a >= 100:
        return 1
    if a >= 10:
        return 2
    if a >= 1:
        return 3
    return 4


def put_dec(buf, off, value, places):
    """Store x (None: null) at buf[off:off+3] with `places` decimals (-1: 4 significant)."""
    if value is None:
        v = NULL << 21
    else:
        d = sig4(value) if places < 0 else places
        m = round(value * _POW10[d])
        while d and (m > _BIG or m < -_BIG):
            d -= 1
            m = round(value * _POW10[d])
        if m > _BIG or m < -_BIG:
            d = 5
            m = round(value / 1000)
            if m > _BIG or m < -_BIG:
                d = 6
                m = max(-_BIG, min(_BIG, round(value / 1000000)))
        v = d << 21 | (m & 0x1FFFFF)
    buf[off] = v & 0xFF
    buf[off + 1] = v >> 8 & 0xFF
    buf[off + 2] = v >> 16


def _u(buf, off, k):
    v = 0
    for i in range(k - 1, -1, -1):
        v = v << 8 | buf[off + i]
    return v


def _put(buf, off, v, k):
    for i in range(k):
        buf[off + i] = v & 0xFF
        v >>= 8


def slot_ok(slot):
    n = len(slot)
    return n > 12 and crc16(slot, 0, n - 2) == slot[n - 2] | slot[n - 1] << 8


def slot_t(slot):
    return _u(slot, 0, 4)


def seal(slot, t, report_s, flags):
    """Fill the record head and the CRC of a slot whose parameters are written."""
    _put(slot, 0, t, 4)
    _put(slot, 4, report_s, 3)
    slot[7] = flags
    n = len(slot)
    _put(slot, n - 2, crc16(slot, 0, n - 2), 2)


class Layout:
    """The parameters (and units) of a slot's columns; bytes for the JSON, the segment header."""

    def __init__(self, params, units, minmax):
        self.count = len(params)
        self.minmax = minmax
        self.step = 11 if minmax else 5
        self.size = 10 + self.step * self.count
        # the JSON around each value, '"so2":[' before and ',"ppb",' after, all in one bytes
        # object with their bounds in `cuts`: two bytes objects per parameter cost ~64 B each
        text = bytearray()
        cuts = array("H", [0])
        for p, u in zip(params, units):
            text.extend(b'"')
            text.extend(p.encode())
            text.extend(b'":[')
            cuts.append(len(text))
            text.extend(b',"')
            text.extend(u.encode())
            text.extend(b'",')
            cuts.append(len(text))
        self.text = bytes(text)
        self.cuts = cuts
        body = bytearray(MAGIC)
        body.append(VERSION)
        body.append(1 if minmax else 0)
        body.append(0)
        body.append(0)          # total header length, set below
        body.append(self.count)
        for p, u in zip(params, units):
            for s in (p, u):
                body.append(len(s))
                body.extend(s.encode())
        n = len(body) + 2
        body[4] = n & 0xFF
        body[5] = n >> 8
        c = crc16(body, 0, len(body))
        body.append(c & 0xFF)
        body.append(c >> 8)
        self.header = bytes(body)
        # JSON of one record at most: head, and per parameter key, unit, numbers, punctuation
        self.json_bytes = 48 + len(self.text) + self.count * (40 if minmax else 18)


def close_into(slot, layout, win, cols, expected, offline):
    """Close every window column into slot's parameter fields (head and CRC: seal()).

    cols[k].places is column k's resolution; offline[k] true adds the OFFLINE flag."""
    off = 8
    minmax = layout.minmax
    for k in range(layout.count):
        mean = win.close(k, expected)
        if offline[k]:
            win.flags[k] |= 4
        places = cols[k].places
        put_dec(slot, off, mean, min(4, places + 1) if places >= 0 else -1)
        n = win.n[k]
        _put(slot, off + 3, win.status[k] << 14 | (win.flags[k] & 7) << 11 | min(n, 2047), 2)
        if minmax:
            put_dec(slot, off + 5, win.mn[k] if n else None, places)
            put_dec(slot, off + 8, win.mx[k] if n else None, places)
        off += layout.step
