# Opening the on-flash backlog (station/backlog.py) as the last boot left it: each segment's
# header read back into its layout (records written before a config change stay readable), a
# slot cut short by a power loss found and the segment sealed, the cursor loaded, the segments
# already sent removed. Runs once per boot, so station/assemble.py drops this module again
# and its code is not on the heap while the station runs.

import os

from bus.modbus_rtu import crc16
from hal.common import makedirs
from station.backlog import Backlog
from station.record import MAGIC, VERSION, Layout, slot_ok


def open_backlog(folder, layout, capacity, segments):
    """The Backlog in folder/backlog (made when missing), new records written with `layout`."""
    bl = Backlog(folder, layout, capacity, segments)
    makedirs(folder + "/backlog")
    names = [n for n in os.listdir(folder + "/backlog") if n.endswith(".seg")]
    names.sort()
    for name in names:
        _scan(bl, int(name[:-4]))
    seg, idx, dropped = bl.load_cursor()
    bl.dropped = dropped
    while bl.segs and bl.segs[0] < seg:   # sent, or dropped and counted
        bl.delete_oldest()
    if bl.segs and bl.segs[0] == seg:
        bl.idx = min(idx, bl.counts[0])
    bl.bound()
    return bl


def _scan(backlog, seg):
    path = backlog.path(seg)
    with open(path, "rb") as f:
        head = f.read(6)
        n = header_len(head)
        header = head + f.read(n - 6) if n > 6 else b""
        layout = backlog.cur if header == backlog.cur.header else layout_of(header)
        if layout is None:
            f.close()
            os.remove(path)  # cut while being created: it never held a record
            return
        size = os.stat(path)[6]
        count = (size - n) // layout.size
        sealed = (size - n) % layout.size != 0
        if count:
            buf = backlog.buf(layout.size)
            f.seek(n + (count - 1) * layout.size)
            f.readinto(buf)
            if not slot_ok(buf):
                count -= 1
                sealed = True
        if sealed:
            backlog.torn += 1
    for other in backlog.layouts:
        if other.header == layout.header:
            layout = other
    backlog.segs.append(seg)
    backlog.counts.append(count)
    backlog.hlens.append(n)
    backlog.layouts.append(layout)
    backlog.sealed = sealed or layout is not backlog.cur


def header_len(head6):
    """Total header length from its first 6 bytes; 0 when they are not a segment header."""
    if len(head6) < 6 or head6[0:2] != MAGIC or not 1 <= head6[2] <= VERSION:
        return 0
    return head6[4] | head6[5] << 8


def layout_of(header):
    """The Layout a segment header describes, or None when the header is damaged."""
    n = len(header)
    if n < 9 or header_len(header) != n or crc16(header, 0, n - 2) != header[n - 2] | \
            header[n - 1] << 8:
        return None
    if header[2] == 1:  # written by a firmware before the compact records: drained as is
        from station.record_v1 import Layout1

        return Layout1(header)
    return Layout(header)
