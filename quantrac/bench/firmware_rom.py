# MicroPython side of `quantrac bench firmware`: what a board with a ROMFS partition does in
# mp_init, done by hand on the unix port, which has no ROM to map. The image is read into one
# heap block before anything else; its bytecode then runs in place, as it runs from flash on a
# board. The bench counts that block apart: on a board it is flash, not heap.
#
#   micropython -X heapsize=N firmware_rom.py IMAGE (heap|drain) ARGS...
#   cd <build>; MICROPYPATH= micropython -X heapsize=N firmware_rom.py - (heap|drain) ARGS...

import gc
import os
import sys

import micropython
import vfs


def mount(path):
    """Mount the image at /rom; the heap it took (its block and the mount). "-": no image,
    the .mpy files are imported from the current folder onto the heap (a board without a
    ROMFS partition); nothing taken."""
    if path == "-":
        sys.path[0] = ""  # the build folder, not this script's (the bench module's source)
        return 0
    gc.collect()
    before = gc.mem_alloc()
    image = bytearray(os.stat(path)[6])  # one block of the exact size: no growing reads
    with open(path, "rb") as f:
        f.readinto(image)
    vfs.mount(vfs.VfsRom(image), "/rom")
    sys.path.insert(0, "/rom")
    gc.collect()
    return gc.mem_alloc() - before


rom = mount(sys.argv[1])
# The bench's own code (fake wires, virtual clock, figure keeping) is not station code: what
# its module takes is printed for firmware.py to leave out. The station modules it imports come
# first, so they count as the station's; so do the qstr pools (printed around the import).
import bus.modbus_rtu  # noqa: E402, F401
import hal.unix  # noqa: E402, F401

gc.collect()
start = gc.mem_alloc()
micropython.qstr_info()
import firmware_station  # noqa: E402 (from /rom after the mount, or from the files)

gc.collect()
micropython.qstr_info()
print(f"bench code: {gc.mem_alloc() - start} B")
firmware_station.main(sys.argv[1:], rom)
