# A bounded ring of fixed-size record slots in RAM: the sampler's hold for records closed
# while the clock is not valid yet (station/sampler.py). Same append / peek / commit / len /
# dropped contract as the backlog. When full, the oldest record is dropped and counted: a
# long wait loses the oldest data first, never the newest.

from array import array


class RamQueue:
    def __init__(self, records, record_bytes):
        self.slots = records
        self.size = record_bytes
        # one buffer for all slots, allocated at boot while the heap is still in one piece:
        # a buffer and a view per slot would cost two more objects each (~3 KB for 24)
        self.mv = memoryview(bytearray(records * record_bytes))
        self.lens = array("H", bytes(2 * records))
        self.head = 0      # slot of the oldest record
        self.count = 0
        self.dropped = 0   # records lost to overflow since boot

    def __len__(self):
        return self.count

    def append(self, rec):
        """Copy one record (at most record_bytes) in, dropping the oldest when full; its slot."""
        k = len(rec)
        if k > self.size:
            raise OverflowError("queue: a %d-byte record exceeds the %d-byte slot" % (
                k, self.size))
        if self.count == self.slots:
            self.head = (self.head + 1) % self.slots
            self.count -= 1
            self.dropped += 1
        slot = (self.head + self.count) % self.slots
        off = slot * self.size
        self.mv[off:off + k] = rec
        self.lens[slot] = k
        self.count += 1
        return slot

    def peek(self, idx):
        """The idx-th oldest record (0 = oldest), as a view valid until the next append/commit."""
        if not 0 <= idx < self.count:
            raise IndexError("queue: no record %d of %d" % (idx, self.count))
        slot = (self.head + idx) % self.slots
        off = slot * self.size
        return self.mv[off:off + self.lens[slot]]

    def commit(self, k):
        """The k oldest records were delivered: forget them."""
        k = min(k, self.count)
        self.head = (self.head + k) % self.slots
        self.count -= k
