# Protocol-v1 data encoding (docs/protocol.md) into preallocated buffers.
#
# A record is {"t":…,"p":…,"d":{param:[value,unit,status,n,flags(,min,max)]}}; a message wraps
# one or more queued records: {"v":1,"st":…,"fw":…,"boot":…,"seq":n,"r":[…]}. Constant parts
# (message head, each parameter's key and unit) are built once; numbers are formatted with a
# fixed format per resolution and trailing zeros trimmed, so a 5-minute air record stays near
# 300 bytes and encoding never grows a buffer.

_FMT = (b"%.0f", b"%.1f", b"%.2f", b"%.3f", b"%.4f")
_ZERO = 48
_DOT = 46


def sig4(x):
    """Decimal places giving 4 significant digits, capped at 4 (float32 channels)."""
    a = -x if x < 0 else x
    if a >= 1000:
        return 0
    if a >= 100:
        return 1
    if a >= 10:
        return 2
    if a >= 1:
        return 3
    return 4


class Writer:
    """Appends bytes into one preallocated buffer; .n bytes are valid, .mv views them."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.n = 0

    def put(self, b):
        n = self.n
        k = len(b)
        if n + k > len(self.buf):
            raise OverflowError("record: %d bytes do not fit %d" % (n + k, len(self.buf)))
        self.mv[n:n + k] = b
        self.n = n + k

    def int(self, i):
        self.put(b"%d" % i)

    def num(self, x, places):
        """x with `places` decimals (-1: 4 significant digits), trailing zeros trimmed."""
        if places < 0:
            places = sig4(x)
        start = self.n
        self.put(_FMT[places] % x)
        if places:
            buf = self.buf
            n = self.n
            while buf[n - 1] == _ZERO:
                n -= 1
            if buf[n - 1] == _DOT:
                n -= 1
            self.n = n
        if self.n - start == 2 and self.buf[start] == 45 and self.buf[start + 1] == _ZERO:
            self.buf[start] = _ZERO  # "-0" -> "0"
            self.n = start + 1


class Entry:
    """One parameter of the record: its channel, the device behind it and its JSON pieces."""

    def __init__(self, ch, device):
        self.ch = ch
        self.device = device
        self.key = b'"' + ch.param.encode() + b'":['
        self.unit = b',"' + ch.unit.encode() + b'",'
        self.max_bytes = entry_bytes(ch.param, ch.unit, ch.window.lo, ch.window.hi)


def entry_bytes(param, unit, lo, hi):
    """Upper bound of one parameter's encoding: key, unit, three numbers within [lo, hi]
    (sign and 4 decimals at most), status, n, flags and punctuation."""
    top = max(-lo if lo < 0 else lo, -hi if hi < 0 else hi)
    return len(param) + len(unit) + 3 * (len(b"%.4f" % top) + 2) + 28


def config_bytes(sensors):
    """Upper bound of one record for every channel of a config's sensors (before devices exist,
    so the big buffers can be allocated while the heap is still in one piece)."""
    total = 40
    for s in sensors:
        for ch in s["ch"]:
            total += entry_bytes(ch["param"], ch["unit"], ch["range"][0], ch["range"][1])
    return total


def entries(devices, warn=None):
    """The record's parameters in config order; a parameter two devices carry: the later wins."""
    out = []
    for dev in devices:
        for ch in dev.channels:
            for i, e in enumerate(out):
                if e.ch.param == ch.param:
                    if warn:
                        warn("config " + ch.param + " comes from " + e.device.id + " and " +
                             dev.id + "; records carry " + dev.id + "'s")
                    out.pop(i)
                    break
            out.append(Entry(ch, dev))
    return out


def record_bytes(ents):
    """Upper bound of one encoded record's size."""
    return 40 + sum(e.max_bytes for e in ents)


def encode_record(w, t, p, ents):
    """Append one record for closed windows (Window.close done, OFFLINE flags set) to w."""
    w.put(b'{"t":')
    w.int(t)
    w.put(b',"p":')
    w.int(p)
    w.put(b',"d":{')
    first = True
    for e in ents:
        if not first:
            w.put(b",")
        first = False
        win = e.ch.window
        places = e.ch.places
        w.put(e.key)
        if win.n:
            w.num(win.mean, min(4, places + 1) if places >= 0 else -1)
        else:
            w.put(b"null")
        w.put(e.unit)
        w.int(win.status)
        w.put(b",")
        w.int(win.n)
        w.put(b",")
        w.int(win.flags)
        if win.n:
            w.put(b",")
            w.num(win.mn, places)
            w.put(b",")
            w.num(win.mx, places)
        w.put(b"]")
    w.put(b"}}")


class Messages:
    """Data messages of one boot: the constant head, then seq and queued records."""

    def __init__(self, station, fw, boot, size):
        self.head = b'{"v":1,"st":"%s","fw":"%s","boot":"%s","seq":' % (station, fw, boot)
        self.w = Writer(size + len(self.head) + 24)

    def build(self, seq, queue, k):
        """Message holding queue's oldest records, at most k; (memoryview, records in it)."""
        w = self.w
        w.n = 0
        w.put(self.head)
        w.int(seq)
        w.put(b',"r":[')
        room = len(w.buf) - 2
        count = 0
        while count < k:
            rec = queue.peek(count)
            if w.n + len(rec) + 1 > room and count:
                break
            if count:
                w.put(b",")
            w.put(rec)
            count += 1
        w.put(b"]}")
        return w.mv[:w.n], count
