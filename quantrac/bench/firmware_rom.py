# MicroPython side of `quantrac bench firmware`: what a board with a ROMFS partition does in
# mp_init, done by hand on the unix port, which has no ROM to map. The image is read into one
# heap block before anything else; its bytecode then runs in place, as it runs from flash on a
# board. The bench counts that block apart: on a board it is flash, not heap.
#
#   micropython -X heapsize=N firmware_rom.py IMAGE (heap|drain) ARGS...

import gc
import os
import sys

import vfs

gc.collect()
before = gc.mem_alloc()
image = bytearray(os.stat(sys.argv[1])[6])  # one block of the exact size: no growing reads
with open(sys.argv[1], "rb") as f:
    f.readinto(image)
f = None
vfs.mount(vfs.VfsRom(image), "/rom")
sys.path.insert(0, "/rom")
gc.collect()
rom_alloc = gc.mem_alloc() - before  # the image's block and the mount

import firmware_station  # noqa: E402 (from /rom, after the mount)

firmware_station.main(sys.argv[1:], rom_alloc)
