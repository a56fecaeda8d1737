# The backlog on a real LittleFS v2 (what an ESP32 formats its flash with), in a RAM block
# device: appends across segment files, the bound, commits and a remount keep every record.

import os

import vfs
from mpytest import eq, run
from station.backlog_open import open_backlog
from layouts import layout, slot_t
from station.record import seal, slot_ok

T0 = 1763755200
LAYOUT = layout(["so2", "co", "no2", "o3", "temp", "rh", "pressure", "tsp", "pm10"],
                ["ppb", "ppm", "ppb", "ppb", "degC", "%", "hPa", "ug/m3", "ug/m3"], False,
                [(0, 2000, -1, False), (0, 100, -1, False), (0, 2000, -1, False),
                 (0, 1000, -1, False), (-40, 80, 1, False), (0, 100, 1, False),
                 (300, 1100, 1, False), (0, 10000, 1, False), (0, 1000, 0, False)])


class RamFlash:
    """A block device as MicroPython's vfs expects (readblocks/writeblocks/ioctl)."""

    def __init__(self, blocks, size=4096):
        self.size = size
        self.data = bytearray(blocks * size)

    def readblocks(self, n, buf, off=0):
        a = n * self.size + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        if off is None:  # erase then write whole blocks
            off = 0
        a = n * self.size + off
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.size
        if op == 5:
            return self.size
        if op == 6:
            return 0
        return None


def test_backlog_on_littlefs():
    dev = RamFlash(160, 512)  # 80 KB of flash in 512-byte blocks
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/flash")
    try:
        bl = open_backlog("/flash/data", LAYOUT, 16384, 8)
        slot = bytearray(LAYOUT.size)
        for i in range(900):
            seal(slot, T0 + 300 * i)
            bl.append(slot)
        bl.commit(10)
        kept, dropped = len(bl), bl.dropped
        eq(kept + dropped + 10, 900, "every record kept, sent or counted as dropped")
        bl.close()
        vfs.umount("/flash")
        vfs.mount(vfs.VfsLfs2(dev), "/flash")
        bl = open_backlog("/flash/data", LAYOUT, 16384, 8)
        eq((len(bl), bl.dropped), (kept, dropped), "after a remount")
        ts = [slot_t(bl.peek(i)) for i in range(len(bl))]
        eq(ts, [T0 + 300 * (900 - kept + i) for i in range(kept)], "newest kept, in order")
        eq(all(slot_ok(bl.peek(i)) for i in range(len(bl))), True, "CRCs")
        eq(len(os.listdir("/flash/data/backlog")) <= 9, True, "bounded files")
        bl.close()
    finally:
        vfs.umount("/flash")


run(globals())
