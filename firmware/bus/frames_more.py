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
#         PM10 (big-endian), the two's complement of the sum of bytes 0..6.
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
FIELDS = {HPMA: "pm2_5 pm10", HPMAQA: "pm2_5 pm10", ZE: "conc", ZEQA: "w2 w4 w6"}
PLACES = {HPMA: 0, HPMAQA: 0, ZE: 2, ZEQA: 0}  # before the catalog scale
_POW = (10000, 1000, 100, 10, 1)


class ZeSplitter(FrameSplitter):
    """The short frames (ze, zeqa: 9 bytes from 0xFF; hpmaqa: 8 bytes from 0x40 0x05 0x04)
    with a one-byte two's-complement sum: bus/frames.py's splitter with these byte rules."""

    def __init__(self, kind, match):
        self.kind = kind
        self.pms = False
        qa = kind == HPMAQA
        self.h0 = 0x40 if qa else 0xFF
        # byte 1: 0x05 (hpmaqa), the command 0x86 of a Q&A reply, the gas code of an upload
        self.h1 = 0x05 if qa else 0x86 if kind == ZEQA else -1
        self.size = 8 if qa else 9
        self.first = 0 if qa else 1  # the first byte the sum covers
        self.match = bytearray(9)   # 0: any byte; else the byte + 1 a position must hold
        for pos, b in match:
            self.match[pos] = b + 1
        if qa:
            self.match[2] = 0x04 + 1
        if self.h1 < 0:
            self.h1 = self.match[1] - 1
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


def splitter(kind, match):
    return FrameSplitter(PMS) if kind == HPMA else ZeSplitter(kind, match)


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
    if kind == HPMAQA:
        if not (frame[3] or frame[4] or frame[5] or frame[6]):
            return None
        return frame[3 + 2 * idx] << 8 | frame[4 + 2 * idx]
    return frame[2 + 2 * idx] << 8 | frame[3 + 2 * idx]


def unit_of(kind):
    """What the integer raw() gives is worth in the field's unit (before the catalog scale)."""
    return 0.0001 if kind == ZE else 1


def check(s, w, fail, at):
    """config.py's checks of a stream sensor of these families (fail(path, message), at(path,
    key) are config.py's), made here so only a station that has one loads them."""
    kind = s["frame"]
    if kind not in FIELDS:
        fail(at(w, "frame"), "%r is not one of pms, sds, hpma, hpmaqa, ze, zeqa" % (kind,))
    for i, b in enumerate(s["match"]):
        if not (isinstance(b, list) and len(b) == 2 and all(
                isinstance(x, int) and 0 <= x <= 255 for x in b) and 1 <= b[0] <= 7):
            fail(at(at(w, "match"), i), "%r is not [position 1..7, byte]" % (b,))
    if kind == ZE and not any(b[0] == 1 for b in s["match"]):
        fail(at(w, "match"), "a ze frame is told by the gas code at byte 1: give [1, code]")
    for i, b in enumerate(s["send"]):
        if not (isinstance(b, list) and len(b) == 2 and isinstance(b[0], list) and
                1 <= len(b[0]) <= 32 and all(isinstance(x, int) and 0 <= x <= 255
                                             for x in b[0]) and
                isinstance(b[1], int) and 0 <= b[1] <= 600000):
            fail(at(at(w, "send"), i), "%r is not [[1..32 bytes], every_ms 0..600000]" % (b,))
