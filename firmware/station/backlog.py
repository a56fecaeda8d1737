# The on-flash backlog: every closed record is appended here and leaves only after the broker
# acknowledged it. Append-only segment files of fixed-size slots (station/record.py), each slot
# with its CRC, replayed oldest first, bounded: beyond `segments` files the oldest file goes
# and its unsent records are counted as dropped.
#
#   <data_dir>/backlog/00000042.seg   header (the record layout) + slots, appended only
#   <data_dir>/backlog/cursor         oldest unsent record (segment, index) + dropped count,
#                                     replaced atomically (write cursor.tmp, rename)
#
# Power loss at any byte: a slot cut short or with a bad CRC at the end of the newest segment
# is the record that was being written; it is ignored and appends continue in a new segment
# (so slots stay aligned). A damaged header can only be a segment cut while being created,
# before any record: the file is removed. Segment files are only ever appended to or deleted,
# which is what a flash file system (LittleFS) does well. Reading back what the last boot
# left is station/backlog_open.py's job (boot-only code).

import os
import struct

from bus.modbus_rtu import crc16

_CURSOR = "<III"


class Backlog:
    def __init__(self, folder, layout, capacity, segments):
        self.dir = folder
        self.cur = layout     # the layout of new records
        self.seg_bytes = capacity // segments
        self.max_segs = segments
        self.per_seg = (self.seg_bytes - len(layout.header)) // layout.size
        if self.per_seg < 1:
            raise ValueError("backlog: %d bytes in %d segments hold no %d-byte record" % (
                capacity, segments, layout.size))
        self.segs = []        # segment numbers, oldest first; the cursor is in segs[0]
        self.counts = []      # whole records in each
        self.hlens = []       # header length of each
        self.layouts = []     # Layout of each
        self.idx = 0          # cursor: index of the oldest unsent record in segs[0]
        self.dropped = 0      # records lost to the bound (persisted)
        self.torn = 0         # records found cut short at boot
        self.sealed = True    # the newest segment takes no more appends
        self.wf = None        # append handle of the newest segment
        self.rf = None        # read handle and its segment number
        self.rseg = -1
        self.bufs = {}        # slot size -> read buffer
        # what is on flash already is read by station/backlog_open.py open_backlog()

    def path(self, seg):
        return "%s/backlog/%08d.seg" % (self.dir, seg)

    def buf(self, size):
        b = self.bufs.get(size)
        if b is None:
            b = self.bufs[size] = bytearray(size)
        return b

    def load_cursor(self):
        try:
            with open(self.dir + "/backlog/cursor", "rb") as f:
                b = f.read()
            if len(b) == 14 and crc16(b, 0, 12) == b[12] | b[13] << 8:
                return struct.unpack(_CURSOR, b)
        except OSError:
            pass
        return (self.segs[0] if self.segs else 0), 0, 0

    def _save_cursor(self, seg, idx):
        b = bytearray(struct.pack(_CURSOR, seg, idx, self.dropped))
        c = crc16(b, 0, 12)
        b.append(c & 0xFF)
        b.append(c >> 8)
        path = self.dir + "/backlog/cursor"
        with open(path + ".tmp", "wb") as f:
            f.write(b)
        os.rename(path + ".tmp", path)

    def delete_oldest(self):
        seg = self.segs.pop(0)
        self.counts.pop(0)
        self.hlens.pop(0)
        self.layouts.pop(0)
        if self.rseg == seg:
            self.rf.close()
            self.rf = None
            self.rseg = -1
        if not self.segs:
            self._close_writer()
        try:
            os.remove(self.path(seg))
        except OSError:
            pass

    def _close_writer(self):
        if self.wf is not None:
            self.wf.close()
            self.wf = None
        self.sealed = True

    def bound(self):
        """Keep at most max_segs files: the oldest goes, its unsent records counted."""
        while len(self.segs) > self.max_segs:
            self.dropped += self.counts[0] - self.idx
            self.idx = 0
            self._save_cursor(self.segs[1], 0)  # the cursor moves on first, then the file goes
            self.delete_oldest()

    # ---- the queue contract: append / len / peek / layout / commit -------------------------

    def __len__(self):
        return sum(self.counts) - self.idx

    def append(self, slot, layout=None):
        """Store one sealed record written with `layout` (default: the current one); returns
        once it is on flash. A record of another layout (a new report interval, a record
        held from before it) starts a segment with that layout's header."""
        if layout is not None and layout is not self.cur:
            if layout.header != self.cur.header:
                self.per_seg = max(1, (self.seg_bytes - len(layout.header)) // layout.size)
                self.sealed = True
            self.cur = layout
        if self.sealed or self.counts[-1] >= self.per_seg:
            self._new_segment()
        elif self.wf is None:
            self.wf = open(self.path(self.segs[-1]), "ab")
        self.wf.write(slot)
        self.wf.flush()
        self.counts[-1] += 1

    def _new_segment(self):
        self._close_writer()
        seg = self.segs[-1] + 1 if self.segs else self.load_cursor()[0] + 1
        header = self.cur.header
        f = open(self.path(seg), "wb")
        f.write(header)
        f.flush()
        self.wf = f
        self.sealed = False
        self.segs.append(seg)
        self.counts.append(0)
        self.hlens.append(len(header))
        self.layouts.append(self.cur)
        if len(self.segs) == 1:
            self.idx = 0
        self.bound()

    def _find(self, idx):
        """(segment position, index in it) of the idx-th oldest unsent record."""
        if not 0 <= idx < len(self):
            raise IndexError("backlog: no record %d of %d" % (idx, len(self)))
        j = 0
        idx += self.idx
        while idx >= self.counts[j]:
            idx -= self.counts[j]
            j += 1
        return j, idx

    def layout(self, idx):
        return self.layouts[self._find(idx)[0]]

    def peek(self, idx):
        """The idx-th oldest unsent record as a view, valid until the next peek."""
        j, k = self._find(idx)
        seg = self.segs[j]
        if self.rseg != seg:
            if self.rf is not None:
                self.rf.close()
            self.rf = open(self.path(seg), "rb")
            self.rseg = seg
        layout = self.layouts[j]
        buf = self.buf(layout.size)
        self.rf.seek(self.hlens[j] + k * layout.size)
        if self.rf.readinto(buf) != layout.size:
            buf[0] = buf[0] ^ 0xFF  # unreadable: fails its CRC
        return memoryview(buf)

    def commit(self, k):
        """The k oldest records were delivered: move the cursor past them, remove spent files."""
        k = min(k, len(self))
        j = 0
        i = self.idx + k
        while j < len(self.segs) - 1 and i >= self.counts[j]:
            i -= self.counts[j]
            j += 1
        self._save_cursor(self.segs[j], i)
        for _ in range(j):
            self.delete_oldest()
        self.idx = i

    def close(self):
        self._close_writer()
        if self.rf is not None:
            self.rf.close()
            self.rf = None
            self.rseg = -1
