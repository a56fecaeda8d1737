# Streaming-serial splitter for the two particulate frame families.
#
#   pms: 0x42 0x4D, length 28 (big-endian), 13 big-endian data words, 16-bit sum of all
#        preceding bytes (big-endian). 32 bytes.
#   sds: 0xAA 0xC0, six data bytes, 8-bit sum of the data bytes, 0xAB. 10 bytes.
#
# Sensors stream whether read or not, so the reader joins mid-frame, a UART overflow cuts
# frames, and a header pattern can occur inside data. The splitter checks each byte against
# what its position allows and, on a mismatch or a bad sum, re-hunts for a header in the bytes
# it already holds instead of dropping them (a real frame can start inside a false one).

PMS = "pms"
SDS = "sds"

# Field names by data word (pms) or by value (sds), as sensor configs name them; .split()
# gives the list. One string each: as a tuple, every name would be a 32-byte str object on
# the heap for as long as this module lives, although only the boot looks them up.
FIELDS = {
    PMS: "pm1_cf1 pm2_5_cf1 pm10_cf1 pm1_atm pm2_5_atm pm10_atm n0_3 n0_5 n1_0 n2_5 n5_0 n10 "
         "reserved",
    SDS: "pm2_5 pm10",
}
PLACES = {PMS: 0, SDS: 1}  # decimal places a field carries
_SHAPE = {PMS: (0x42, 0x4D, 32), SDS: (0xAA, 0xC0, 10)}


def field(frame, kind, idx):
    """Value of field number idx (an index into FIELDS[kind].split()) in a whole valid
    frame."""
    if kind == PMS:
        return frame[4 + 2 * idx] << 8 | frame[5 + 2 * idx]
    return (frame[2 + 2 * idx] | frame[3 + 2 * idx] << 8) / 10


class FrameSplitter:
    def __init__(self, kind):
        self.kind = kind
        self.pms = kind == PMS
        self.h0, self.h1, self.size = _SHAPE[kind]
        self.work = bytearray(self.size)   # the frame being assembled
        self.frame = bytearray(self.size)  # the latest valid frame
        self.pos = 0
        self.frames = 0    # valid frames seen
        self.bad = 0       # frames with a good shape and a bad sum
        self.skipped = 0   # bytes dropped while hunting for a header

    def feed(self, buf, n, start=0):
        """Consume buf[start:start+n]; the number of valid frames completed (the last is in
        .frame)."""
        got = 0
        w = self.work
        for i in range(start, start + n):
            p = self.pos
            w[p] = buf[i]
            self.pos = p + 1
            if not self._ok_at(p):
                self._resync()
            elif self.pos == self.size:
                if self._sum_ok():
                    f = self.frame
                    for k in range(self.size):
                        f[k] = w[k]
                    self.pos = 0
                    self.frames += 1
                    got += 1
                else:
                    self.bad += 1
                    self._resync()
        return got

    def _ok_at(self, pos):
        """Whether work[pos] is a byte a frame may hold at that position."""
        b = self.work[pos]
        if pos == 0:
            return b == self.h0
        if pos == 1:
            return b == self.h1
        if self.pms:
            if pos == 2:
                return b == 0
            if pos == 3:
                return b == 28
            return True
        return pos != 9 or b == 0xAB

    def _sum_ok(self):
        w = self.work
        if self.pms:
            s = 0
            for i in range(30):
                s += w[i]
            return s & 0xFFFF == (w[30] << 8 | w[31])
        s = 0
        for i in range(2, 8):
            s += w[i]
        return s & 0xFF == w[8]

    def _resync(self):
        """Drop bytes up to the next header candidate that is consistent so far."""
        w = self.work
        p = self.pos
        while p:
            j = 1
            while j < p and w[j] != self.h0:
                j += 1
            self.skipped += j
            p -= j
            for k in range(p):
                w[k] = w[k + j]
            i = 0
            while i < p and self._ok_at(i):
                i += 1
            if i == p:
                break
        self.pos = p
