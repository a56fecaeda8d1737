# Protocol-v1 data messages (docs/protocol.md) built from backlog slots into one preallocated
# buffer: {"v":1,"st":…,"fw":…,"boot":…,"seq":n,"r":[{"t":…,"p":…,"d":{param:[value,unit,
# status,n,flags(,min,max)]}},…]}. Numbers come out of the slots' decimals as digits, never
# through float formatting, so they print exactly as stored and trailing zeros are trimmed.

from micropython import const

from station.record import VERSION, get_bits, slot_ok

_FIXED = const(0)  # column value codes (station/record.py)
_SIG4S = const(2)
_DEC24 = const(3)

_POW10 = (1, 10, 100, 1000, 10000)
_ZEROS = b"0000000"


class Writer:
    """Appends bytes into one preallocated buffer; .n bytes are valid, .mv views them."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.n = 0

    def put(self, data):
        n = self.n
        k = len(data)
        if n + k > len(self.buf):
            raise OverflowError("message: %d bytes do not fit %d" % (n + k, len(self.buf)))
        self.mv[n:n + k] = data
        self.n = n + k

    def put_part(self, src, start, stop):
        """Append src[start:stop], byte by byte: a slice would be a new object for every
        piece."""
        n = self.n
        if n + stop - start > len(self.buf):
            raise OverflowError("message: %d bytes do not fit %d" % (n + stop - start,
                                                                      len(self.buf)))
        buf = self.buf
        for i in range(start, stop):
            buf[n] = src[i]
            n += 1
        self.n = n

    def int(self, value):
        self.put(b"%d" % value)

    def dec(self, value, places):
        """The decimal value / 10**places (places 5: value * 1000, 6: value * 10**6), trailing
        zeros trimmed."""
        if value < 0:
            self.put(b"-")
            value = -value
        if places > 4:
            self.int(value)
            if value:
                self.put(_ZEROS[:3 if places == 5 else 6])
            return
        p = _POW10[places]
        self.int(value // p)
        f = value % p
        if f:
            while f % 10 == 0:
                f //= 10
                places -= 1
            digits = b"%d" % f
            self.put(b".")
            self.put(_ZEROS[:places - len(digits)])
            self.put(digits)


def _value(w, layout, k, c):
    """Append column k's value code c (station/record.py)."""
    enc = layout.enc
    kind = enc[3 * k]
    if c == (1 << enc[3 * k + 2]) - 1:
        w.put(b"null")
    elif kind == _FIXED:
        w.dec(c + layout.low[k], enc[3 * k + 1])
    elif kind == _DEC24:  # bits 21-23 d, 0-20 a signed mantissa (station/record.py dec24)
        m = c & 0x1FFFFF
        w.dec(m - 0x200000 if m & 0x100000 else m, c >> 21)
    else:
        neg = 0
        if kind == _SIG4S:
            neg = c & 1
            c >>= 1
        w.dec(-(c % 10000) if neg else c % 10000, c // 10000)


def put_record(w, slot, layout):
    """Append the JSON of one slot written with `layout`."""
    if layout.version != VERSION:
        layout.put(w, slot)   # an older format (station/record_v1.py)
        return
    w.put(b'{"t":')
    w.int(slot[0] | slot[1] << 8 | slot[2] << 16 | slot[3] << 24)
    w.put(b',"p":')
    w.int(layout.p)
    w.put(b',"d":{')
    rflags = 8 if slot[4] & 1 else 0
    pos = 33
    nb = layout.nb
    text = layout.text
    cuts = layout.cuts
    minmax = layout.minmax
    for k in range(layout.count):
        if k:
            w.put(b",")
        w.put_part(text, cuts[2 * k], cuts[2 * k + 1])     # "so2":[
        n = get_bits(slot, pos, nb)
        cal = get_bits(slot, pos + nb, 1)
        flags = get_bits(slot, pos + nb + 1, 3)
        pos += nb + 4
        bits = layout.enc[3 * k + 2]
        if n:
            _value(w, layout, k, get_bits(slot, pos, bits))
        else:
            w.put(b"null")
        w.put_part(text, cuts[2 * k + 1], cuts[2 * k + 2])  # ,"ppb",
        w.int(1 if cal else 0 if n else 2)
        w.put(b",")
        w.int(n)
        w.put(b",")
        w.int(flags | rflags)
        pos += bits
        if minmax:
            if n:
                w.put(b",")
                _value(w, layout, k, get_bits(slot, pos, bits))
                w.put(b",")
                _value(w, layout, k, get_bits(slot, pos + bits, bits))
            pos += 2 * bits
        w.put(b"]")
    w.put(b"}}")


class Messages:
    """Data messages of one boot: the constant head, then seq and backlog records."""

    def __init__(self, station, fw, boot, size):
        self.head = b'{"v":1,"st":"%s","fw":"%s","boot":"%s","seq":' % (station, fw, boot)
        self.w = Writer(size + len(self.head) + 24)
        self.corrupt = 0       # slots skipped for a bad CRC

    def build(self, seq, backlog, k):
        """A message of the backlog's oldest records, at most k, all of one layout.

        Returns (payload memoryview or None, slots consumed): a slot with a bad CRC is
        consumed but not sent; None when every consumed slot was bad."""
        k = min(k, len(backlog))
        w = self.w
        w.n = 0
        w.put(self.head)
        w.int(seq)
        w.put(b',"r":[')
        room = len(w.buf) - 2
        first = None
        taken = 0
        sent = 0
        while taken < k:
            layout = backlog.layout(taken)
            if first is None:
                first = layout
            elif layout is not first or w.n + layout.json_bytes + 1 > room:
                break
            slot = backlog.peek(taken)
            taken += 1
            if not slot_ok(slot) or w.n + layout.json_bytes + 1 > room:
                self.corrupt += 1
                continue
            if sent:
                w.put(b",")
            put_record(w, slot, layout)
            sent += 1
        w.put(b"]}")
        return (w.mv[:w.n] if sent else None), taken
