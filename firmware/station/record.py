# Records: closed windows -> a fixed-size binary slot (what the backlog stores); slots are
# turned into protocol-v1 JSON by station/message.py when a message is built.
#
# Slot (format version 2), a little-endian bit stream in a whole number of bytes:
#   bytes 0-3  t u32 (end of the period, UTC s)
#   bit 32     REBASED (record flag 8: time rebased from monotonic ticks)
#   per column, in layout order:
#     n        nb bits (samples in the mean; saturates at 2**nb - 1, nb covers twice the
#              samples a period expects, so only a clock stepping back by a period saturates)
#     cal      1 bit: status 1 (calibrating); otherwise the status follows from n: 0 when
#              n > 0, 2 (device error) when n == 0, exactly as values/window.py decides it
#     flags    3 bits (1 out of range, 2 incomplete, 4 offline)
#     mean     w bits (then min and max, w bits each, when the layout keeps them); a null
#              mean is n == 0, so the field is only read when n > 0
#   last 2 bytes: CRC-16/MODBUS of everything before
#
# Each column's value code follows from the catalog channel's range and resolution, fixed in
# the segment header (so a record decodes with the layout it was written with):
#   FIXED   value = (code + lo) / 10**P: P the mean's decimals (the resolution plus one,
#           at most 4), lo the range's low end in those units; w bits hold the range
#   SIG4    4 significant digits (float32 channels): code = d * 10000 + m, value m / 10**d
#           (d 0-4); signed ranges add a sign bit below
#   DEC24   the version 1 24-bit decimal (dec24 below), for ranges FIXED or SIG4 cannot hold
#           in 24 bits
# The all-ones code of every kind is null. A value outside the column's range (or NaN) never
# wraps into a wrong number: it is stored as null and its parameter gets flag 1 (out of
# range). The window drops such samples before they reach a mean, so this is a backstop.
#
# Layout: the columns' names, units and codes plus the report interval p and nb, which is
# also the header of each backlog segment: a report interval or sampling change (a command)
# starts a new layout, so p and the n width need no room in the record.

from array import array
from micropython import const

from bus.modbus_rtu import crc16

_NULL = const(7)  # dec24 d of a null
_POW10 = (1, 10, 100, 1000, 10000)
_BIG = const(0xFFFFF)  # largest dec24 mantissa magnitude
MAGIC = b"QB"
VERSION = 2
# value codes (station/assemble.py encoding(); station/message.py reads them by number)
_FIXED = const(0)
_SIG4S = const(2)  # signed; 1 is SIG4 unsigned
_DEC24 = const(3)
_NB_MAX = const(12)  # n bits when report_s / sample_s is at its largest (2047)
_HEAD = const(33)  # t and the REBASED bit


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


def dec24(value, places):
    """value (None: null) as a dec24 with `places` decimals (-1: 4 significant digits):
    bits 21-23 d, bits 0-20 a signed mantissa m; m / 10**d (d 0-4), m * 1000 (5),
    m * 10**6 (6); d 7 is null."""
    if value is None:
        return _NULL << 21
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
            m = round(value / 1000000)
            if m > _BIG or m < -_BIG:
                return _NULL << 21  # beyond +-1e12: never clamped to a wrong number
    return d << 21 | (m & 0x1FFFFF)


def n_bits(expected):
    """Bits of a column's n: room for twice the samples a period expects."""
    b = 1
    while (1 << b) - 1 < 2 * expected + 1:
        b += 1
    return b if b < _NB_MAX else _NB_MAX


def _u(buf, off, k):
    v = 0
    for i in range(k - 1, -1, -1):
        v = v << 8 | buf[off + i]
    return v


def _put(buf, off, v, k):
    for i in range(k):
        buf[off + i] = v & 0xFF
        v >>= 8


def put_bits(buf, pos, w, value):
    """OR value's w low bits into buf at bit pos (bytes little-endian, low bit first); the
    pieces stay small integers (no long ints on a 32-bit port)."""
    i = pos >> 3
    s = pos & 7
    while w > 0:
        k = 8 - s
        if k > w:
            k = w
        buf[i] |= (value & ((1 << k) - 1)) << s
        value >>= k
        w -= k
        s = 0
        i += 1


def get_bits(buf, pos, w):
    i = pos >> 3
    s = pos & 7
    v = 0
    got = 0
    while got < w:
        k = 8 - s
        if k > w - got:
            k = w - got
        v |= (buf[i] >> s & ((1 << k) - 1)) << got
        got += k
        s = 0
        i += 1
    return v


def slot_ok(slot):
    n = len(slot)
    return n > 6 and crc16(slot, 0, n - 2) == slot[n - 2] | slot[n - 1] << 8


def seal(slot, t, flags=0):
    """Fill the record head (t, the REBASED flag 8) and the CRC of a slot whose columns are
    written."""
    _put(slot, 0, t, 4)
    slot[4] = slot[4] & 0xFE | (1 if flags & 8 else 0)
    n = len(slot)
    _put(slot, n - 2, crc16(slot, 0, n - 2), 2)


class Layout:
    """A slot's columns as a segment header describes them: names and units as JSON pieces,
    value codes, p and nb; built from the header bytes (new or read back from flash)."""

    version = VERSION

    def __init__(self, head):
        self.header = bytes(head)
        count = self.count = head[6]
        self.minmax = bool(head[3] & 1)
        self.nb = head[7]
        self.p = _u(head, 8, 3)
        # the JSON around each value, '"so2":[' before and ',"ppb",' after, all in one bytes
        # object with their bounds in `cuts`: two bytes objects per parameter cost ~64 B each
        text = bytearray()
        cuts = array("H", [0])
        self.enc = enc = bytearray(3 * count)  # kind, places (P), bits (w) of each column
        self.low = array("i", bytes(4 * count))  # 4 bytes on every port
        i = 11
        bits = _HEAD
        for k in range(count):
            n = head[i]
            text.extend(b'"')
            text.extend(head[i + 1:i + 1 + n])
            text.extend(b'":[')
            cuts.append(len(text))
            i += 1 + n
            n = head[i]
            text.extend(b',"')
            text.extend(head[i + 1:i + 1 + n])
            text.extend(b'",')
            cuts.append(len(text))
            i += 1 + n
            enc[3 * k] = head[i]
            enc[3 * k + 1] = head[i + 1]
            enc[3 * k + 2] = head[i + 2]
            bits += head[i + 2] * (3 if self.minmax else 1) + 4
            low = _u(head, i + 3, 4)
            self.low[k] = low - 0x100000000 if low & 0x80000000 else low
            i += 7
        self.text = bytes(text)
        self.cuts = cuts
        self.size = (bits + self.nb * count + 7) // 8 + 2
        # JSON of one record at most: head, and per parameter key, unit, numbers, punctuation
        self.json_bytes = 48 + len(self.text) + count * (40 if self.minmax else 18)

    def retimed(self, p, nb):
        """The same columns for report interval p with nb-bit counts (a new segment)."""
        h = bytearray(self.header)
        h[7] = nb
        h[8] = p & 0xFF
        h[9] = p >> 8 & 0xFF
        h[10] = p >> 16
        n = len(h)
        _put(h, n - 2, crc16(h, 0, n - 2), 2)
        return Layout(h)


def _code(layout, k, value, q, lo, hi):
    """Column k's code of value at q decimals; -1 when it is outside [lo, hi] or NaN."""
    if not lo <= value <= hi:  # NaN fails the comparison too
        return -1
    enc = layout.enc
    kind = enc[3 * k]
    null = (1 << enc[3 * k + 2]) - 1
    if kind == _FIXED:
        p = enc[3 * k + 1]
        if q > p or q < 0:
            q = p
        c = round(value * _POW10[q]) * _POW10[p - q] - layout.low[k]
        return c if 0 <= c < null else -1
    if kind == _DEC24:
        c = dec24(value, q)
        return -1 if c >> 21 == _NULL else c
    a = -value if value < 0 else value
    d = sig4(a)
    m = round(a * _POW10[d])
    while m > 9999 and d:
        d -= 1
        m = round(a * _POW10[d])
    if m > 9999:
        return -1
    c = d * 10000 + m
    if kind == _SIG4S:
        c = c * 2 + (1 if value < 0 and m else 0)
    return c if c < null else -1


def close_into(slot, layout, win, cols, expected, offline):
    """Close every window column into slot's column fields (head and CRC: seal()).

    cols[k].places is column k's resolution now; offline[k] true adds the OFFLINE flag."""
    for i in range(4, len(slot) - 2):
        slot[i] = 0
    pos = _HEAD
    nb = layout.nb
    nmax = (1 << nb) - 1
    minmax = layout.minmax
    for k in range(layout.count):
        mean = win.close(k, expected)
        if offline[k]:
            win.flags[k] |= 4
        n = win.n[k]
        w = layout.enc[3 * k + 2]
        null = (1 << w) - 1
        places = cols[k].places
        lo = win.lo[k]
        hi = win.hi[k]
        c = _code(layout, k, mean, min(4, places + 1) if places >= 0 else -1, lo, hi) \
            if n else 0
        if c < 0:
            win.flags[k] |= 1
            c = null
        if minmax and n:
            c1 = _code(layout, k, win.mn[k], places, lo, hi)
            c2 = _code(layout, k, win.mx[k], places, lo, hi)
            if c1 < 0 or c2 < 0:
                win.flags[k] |= 1
        put_bits(slot, pos, nb, n if n < nmax else nmax)
        put_bits(slot, pos + nb, 1, 1 if win.status[k] == 1 else 0)
        put_bits(slot, pos + nb + 1, 3, win.flags[k] & 7)
        pos += nb + 4
        put_bits(slot, pos, w, c)
        pos += w
        if minmax:
            if n:
                put_bits(slot, pos, w, null if c1 < 0 else c1)
                put_bits(slot, pos + w, w, null if c2 < 0 else c2)
            pos += 2 * w
