# Reading records written in the first backlog format (segment header version 1), so a
# station updated in the field drains what its old firmware left on flash, none lost.
# Imported by station/backlog_open.py only when such a segment is found: the code is not on
# the heap of a station whose backlog holds none.
#
# Version 1 slot, little-endian, 10 + 5 bytes per parameter (+ 6 with min/max):
#   0 t u32   4 p u24   7 record flags (8: time rebased)
#   per parameter: mean dec24, then u16 status << 14 | flags << 11 | n, then dec24 min and
#   dec24 max when the header's flags bit 0 is set
#   last 2: CRC-16/MODBUS of everything before
# dec24: station/record.py dec24(). Header: "QB", 1, flags, u16 total length, count, per
# parameter (len, name, len, unit), CRC-16.

from array import array

VERSION = 1


def put_dec24(w, v):
    """Append the dec24 v (station/record.py dec24()) to the message Writer w."""
    if v >> 21 == 7:
        w.put(b"null")
        return
    m = v & 0x1FFFFF
    w.dec(m - 0x200000 if m & 0x100000 else m, v >> 21)


class Layout1:
    """A version 1 segment header's columns; put() writes one of its slots as JSON."""

    version = VERSION

    def __init__(self, header):
        self.header = bytes(header)
        self.count = header[6]
        self.minmax = bool(header[3] & 1)
        self.step = 11 if self.minmax else 5
        self.size = 10 + self.step * self.count
        text = bytearray()
        cuts = array("H", [0])
        i = 7
        for _ in range(self.count):
            k = header[i]
            text.extend(b'"')
            text.extend(header[i + 1:i + 1 + k])
            text.extend(b'":[')
            cuts.append(len(text))
            i += 1 + k
            k = header[i]
            text.extend(b',"')
            text.extend(header[i + 1:i + 1 + k])
            text.extend(b'",')
            cuts.append(len(text))
            i += 1 + k
        self.text = bytes(text)
        self.cuts = cuts
        self.json_bytes = 48 + len(self.text) + self.count * (40 if self.minmax else 18)

    def put(self, w, slot):
        w.put(b'{"t":')
        w.int(slot[0] | slot[1] << 8 | slot[2] << 16 | slot[3] << 24)
        w.put(b',"p":')
        w.int(slot[4] | slot[5] << 8 | slot[6] << 16)
        w.put(b',"d":{')
        rflags = slot[7]
        off = 8
        text = self.text
        cuts = self.cuts
        for k in range(self.count):
            if k:
                w.put(b",")
            w.put_part(text, cuts[2 * k], cuts[2 * k + 1])
            put_dec24(w, slot[off] | slot[off + 1] << 8 | slot[off + 2] << 16)
            w.put_part(text, cuts[2 * k + 1], cuts[2 * k + 2])
            sfn = slot[off + 3] | slot[off + 4] << 8
            n = sfn & 0x7FF
            w.int(sfn >> 14)
            w.put(b",")
            w.int(n)
            w.put(b",")
            w.int(sfn >> 11 & 7 | rflags)
            if self.minmax and n:
                w.put(b",")
                put_dec24(w, slot[off + 5] | slot[off + 6] << 8 | slot[off + 7] << 16)
                w.put(b",")
                put_dec24(w, slot[off + 8] | slot[off + 9] << 8 | slot[off + 10] << 16)
            w.put(b"]")
            off += self.step
        w.put(b"}}")
