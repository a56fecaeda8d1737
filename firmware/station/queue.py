# The sampler's hold for records closed while the clock is not valid yet (station/sampler.py):
# a bounded ring of fixed-size record slots in one file on flash, <data_dir>/held, each with
# the tick it was closed at, its layout's index and its length (u32, u8, u8). Same append / peek / commit /
# len / dropped contract as the backlog. When full, the oldest record is dropped and
# counted: a long wait loses the oldest data first, never the newest.
#
# On flash, not in RAM: the hold is empty whenever the clock is valid, so a RAM buffer for 24
# records (1.4 KB for 16 parameters) sat unused on the heap all the time. Held records never
# outlived a reboot (their ticks mean nothing after it) and still do not: the file is removed
# when the hold is made and when it empties.

import os

class Hold:
    def __init__(self, path, records, record_bytes):
        self.path = path
        self.slots = records
        self.size = record_bytes + 6          # tick, layout index, length, record
        self.buf = bytearray(self.size)       # the record written or peeked, with both
        self.mv = memoryview(self.buf)
        self.tick = 0                         # the peeked record's tick and layout index
        self.lay = 0
        self.head = 0      # slot of the oldest record
        self.count = 0
        self.dropped = 0   # records lost to overflow since boot
        self.commit(0)     # what an earlier boot held is gone

    def __len__(self):
        return self.count

    def append(self, rec, tick=0, lay=0):
        """Write one record (at most record_bytes), closed at `tick` with layout index `lay`,
        to its slot, dropping the oldest when full."""
        k = len(rec)
        if k + 6 > self.size or k > 255:
            raise OverflowError("hold: a %d-byte record exceeds the %d-byte slot" % (
                k, self.size - 6))
        if self.count == self.slots:
            self.head = (self.head + 1) % self.slots
            self.count -= 1
            self.dropped += 1
        slot = (self.head + self.count) % self.slots
        b = self.buf
        for i in range(4):
            b[i] = tick >> 8 * i & 0xFF
        b[4] = lay
        b[5] = k
        self.mv[6:6 + k] = rec
        with open(self.path, "r+b" if self.count else "wb") as f:
            f.seek(slot * self.size)
            f.write(self.mv[:6 + k])
        self.count += 1

    def peek(self, idx):
        """The idx-th oldest record (0 = oldest), as a view valid until the next peek; its
        tick and layout index in .tick and .lay."""
        if not 0 <= idx < self.count:
            raise IndexError("hold: no record %d of %d" % (idx, self.count))
        slot = (self.head + idx) % self.slots
        b = self.buf
        with open(self.path, "rb") as f:
            f.seek(slot * self.size)
            f.readinto(b)  # the last slot of the file may be shorter: it reads what is there
        self.tick = b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24
        self.lay = b[4]
        return self.mv[6:6 + b[5]]

    def commit(self, k):
        """The k oldest records were taken: forget them."""
        k = min(k, self.count)
        self.head = (self.head + k) % self.slots
        self.count -= k
        if not self.count:
            self.head = 0
            try:
                os.remove(self.path)
            except OSError:
                pass
