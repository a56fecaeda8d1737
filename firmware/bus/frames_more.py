# The rarer stream frame families (sensor-maps.md G5, P3), loaded only when a station has one:
#
#   hpma: Honeywell HPMA115S0 auto-send, 0x42 0x4D 0x00 0x1C, 32 bytes, 16-bit sum of bytes
#         0..29 (big-endian) at 30..31: a Plantower frame's shape, so bus/frames.py's pms
#         splitter finds it; the words are laid out differently (PM2.5 bytes 6-7, PM10 8-9).
#   ze:   Winsen ZE03/ZE07/ZE08 active upload, 9 bytes: 0xFF, gas code, unit code, decimals,
#         concentration (2 bytes BE), full range (2 bytes BE), checksum; value = conc /
#         10**decimals in the unit the unit code names.
#   zeqa: the same modules' Q&A reply, 9 bytes: 0xFF 0x86, then big-endian words at bytes 2,
#         4 and 6 (ZE03: concentration at 2-3, gas code at 4; ZE07-CH2O: ug/m3 at 2-3, ppb at
#         6-7), checksum; no decimals byte, so the catalog's scale decides.
#   ZE checksum: the two's complement of the sum of bytes 1..7.
#   hpmaqa: the HPMA115S0's reply to its read command, 8 bytes: 0x40 0x05 0x04, PM2.5 and
#         PM10 (big-endian), the two's complement of the sum of bytes 0..6. Byte 1 is the
#         length (command byte and data): `match` [1, 13] is the HPMA115C0's 16-byte reply
#         (PM1, PM2.5, PM4, PM10 at bytes 3, 5, 7, 9: fields w3 w5 w7 w9).
#   bm:   a 0x42 0x4D frame of the length its `match` gives at bytes 2-3 (Plantower PMS3003:
#         20, 24 bytes; PMS5003ST: 36, 40 bytes), big-endian words from byte 4, the 16-bit sum
#         of every byte before it (big-endian) at the end. Fields by byte offset: wN unsigned,
#         sN two's complement (a temperature). An all-zero payload is no value (warming up).
#
# `match` ([[position, byte], ...], from the catalog) holds the bytes a frame must carry to be
# this sensor's: the gas code and the unit code. A frame of another gas or unit is not a wrong
# number to scale, it is no value (counted bad, as a bad checksum). The ring of devices/
# pm_sensor.py stores floats, so each frame's value is kept as an integer there: a ze
# concentration as conc * 10**(4 - decimals), scaled back once per sample.

from bus.frames import PMS, FrameSplitter

HPMA = "hpma"
HPMAQA = "hpmaqa"
ZE = "ze"
ZEQA = "zeqa"
BM = "bm"
# bm: 17 words (the longest frame, 40 bytes) unsigned, then the same 17 signed
FIELDS = {HPMA: "pm2_5 pm10", HPMAQA: "pm2_5 pm10 w3 w5 w7 w9 w11 w13", ZE: "conc",
          ZEQA: "w2 w4 w6",
          BM: "w4 w6 w8 w10 w12 w14 w16 w18 w20 w22 w24 w26 w28 w30 w32 w34 w36 "
              "s4 s6 s8 s10 s12 s14 s16 s18 s20 s22 s24 s26 s28 s30 s32 s34 s36"}
PLACES = {HPMA: 0, HPMAQA: 0, ZE: 2, ZEQA: 0, BM: 0}  # before the catalog scale
_BM_WORDS = 17
_POW = (10000, 1000, 100, 10, 1)


class ZeSplitter(FrameSplitter):
    """The short frames (ze, zeqa: 9 bytes from 0xFF; hpmaqa: 8 bytes from 0x40 0x05 0x04)
    with a one-byte two's-complement sum: bus/frames.py's splitter with these byte rules."""

    def __init__(self, kind, match):
        self.kind = kind
        self.pms = False
        qa = kind == HPMAQA
        self.h0 = 0x40 if qa else 0xFF
        # byte 1: the length (hpmaqa, 5 unless matched), the command 0x86 of a Q&A reply,
        # the gas code of an upload
        self.h1 = 0x05 if qa else 0x86 if kind == ZEQA else -1
        for pos, b in match:
            if pos == 1:
                self.h1 = b
        self.size = self.h1 + 3 if qa else 9
        self.first = 0 if qa else 1  # the first byte the sum covers
        self.match = bytearray(self.size)  # 0: any byte; else the byte + 1 a position holds
        for pos, b in match:
            self.match[pos] = b + 1
        if qa:
            self.match[2] = 0x04 + 1
        self.work = bytearray(self.size)
        self.frame = bytearray(self.size)
        self.pos = 0
        self.frames = 0
        self.bad = 0
        self.skipped = 0

    def _ok_at(self, pos):
        b = self.work[pos]
        if pos == 0:
            return b == self.h0
        if pos == 1:
            return b == self.h1
        if pos == 3 and self.kind == ZE and b > 4:
            return False  # more decimals than the record keeps: not a frame of this family
        m = self.match[pos]
        return pos == self.size - 1 or not m or b == m - 1

    def _sum_ok(self):
        w = self.work
        last = self.size - 1
        s = 0
        for i in range(self.first, last):
            s += w[i]
        return -s & 0xFF == w[last]


class BmSplitter(FrameSplitter):
    """A 0x42 0x4D frame whose length word (bytes 2-3) the match gives, 16-bit sum."""

    def __init__(self, match):
        FrameSplitter.__init__(self, PMS)
        self.kind = BM
        self.match = bytearray(8)  # as ZeSplitter's: the length word, any other byte named
        for pos, b in match:
            self.match[pos] = b + 1
        self.size = (self.match[2] - 1) << 8 | (self.match[3] - 1)
        self.size += 4
        self.work = bytearray(self.size)
        self.frame = bytearray(self.size)

    def _ok_at(self, pos):
        b = self.work[pos]
        if pos == 0:
            return b == 0x42
        if pos == 1:
            return b == 0x4D
        m = self.match[pos] if pos < 8 else 0
        return not m or b == m - 1

    def _sum_ok(self):
        w = self.work
        n = self.size - 2
        s = 0
        for i in range(n):
            s += w[i]
        return s & 0xFFFF == (w[n] << 8 | w[n + 1])


def splitter(kind, match):
    if kind == BM:
        return BmSplitter(match)
    return FrameSplitter(PMS) if kind == HPMA else ZeSplitter(kind, match)


def _word_at(kind, idx):
    """Byte offset of field idx's word, and whether it is two's complement."""
    if kind == BM:
        return 4 + 2 * (idx % _BM_WORDS), idx >= _BM_WORDS
    return 3 + 2 * (idx if idx < 2 else idx - 2), False  # hpmaqa


def _zero(frame, first, end):
    for i in range(first, end):
        if frame[i]:
            return False
    return True


def raw(frame, kind, idx):
    """Field idx of a whole valid frame as an integer (see the header); None for a frame
    that carries no value (an HPMA all-zero payload: the fan is still spinning up)."""
    if kind == HPMA:
        for i in range(4, 30):
            if frame[i]:
                return frame[6 + 2 * idx] << 8 | frame[7 + 2 * idx]
        return None
    if kind == ZE:
        return (frame[4] << 8 | frame[5]) * _POW[frame[3]]
    if kind == HPMAQA or kind == BM:
        end = len(frame) - (1 if kind == HPMAQA else 2)
        if _zero(frame, 3 if kind == HPMAQA else 4, end):
            return None
        at, signed = _word_at(kind, idx)
        v = frame[at] << 8 | frame[at + 1]
        return v - 65536 if signed and v > 32767 else v
    return frame[2 + 2 * idx] << 8 | frame[3 + 2 * idx]


def unit_of(kind):
    """What the integer raw() gives is worth in the field's unit (before the catalog scale)."""
    return 0.0001 if kind == ZE else 1


def check(s, w, fail, at):
    """config.py's checks of a stream sensor of these families (fail(path, message), at(path,
    key) are config.py's), made here so only a station that has one loads them."""
    kind = s["frame"]
    if kind not in FIELDS:
        fail(at(w, "frame"), "%r is not one of pms, sds, hpma, hpmaqa, ze, zeqa, bm" % (kind,))
    for i, b in enumerate(s["match"]):
        if not (isinstance(b, list) and len(b) == 2 and all(
                isinstance(x, int) and 0 <= x <= 255 for x in b) and 1 <= b[0] <= 7):
            fail(at(at(w, "match"), i), "%r is not [position 1..7, byte]" % (b,))
    if kind == ZE and not any(b[0] == 1 for b in s["match"]):
        fail(at(w, "match"), "a ze frame is told by the gas code at byte 1: give [1, code]")
    given = {}
    for b in s["match"]:
        given[b[0]] = b[1]
    if kind == BM:
        n = given.get(2, -1) << 8 | given.get(3, 0)
        if not (2 in given and 3 in given and n % 2 == 0 and 4 <= n <= 36):
            fail(at(w, "match"), "a bm frame is told by its length word: give [2, 0] and "
                 "[3, length] (even, 4..36)")
    elif kind == HPMAQA:
        n = given.get(1, 5)
        if not (n % 2 and 5 <= n <= 13):
            fail(at(w, "match"), "an hpmaqa reply's length byte [1, n]: n odd, 5..13")
    else:
        return _check_send(s, w, fail, at)
    # every channel's word inside the frame (bm: before the sum; hpmaqa: before the CS)
    for i, ch in enumerate(s["ch"]):
        names = FIELDS[kind].split()
        if isinstance(ch, dict) and ch.get("field") in names and \
                _word_at(kind, names.index(ch["field"]))[0] > n:
            fail(at(at(at(w, "ch"), i), "field"), "%r is past the end of a frame of length %d"
                 % (ch["field"], n))
    _check_send(s, w, fail, at)


def _check_send(s, w, fail, at):
    for i, b in enumerate(s["send"]):
        if not (isinstance(b, list) and len(b) == 2 and isinstance(b[0], list) and
                1 <= len(b[0]) <= 32 and all(isinstance(x, int) and 0 <= x <= 255
                                             for x in b[0]) and
                isinstance(b[1], int) and 0 <= b[1] <= 600000):
            fail(at(at(w, "send"), i), "%r is not [[1..32 bytes], every_ms 0..600000]" % (b,))
