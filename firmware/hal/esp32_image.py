# A full-image update of MicroPython itself through esp32.Partition, for boards with an OTA
# partition table (the 8 MB ESP32-WROOM-32E-N8, boards/pins/esp32-wroom-32e-n8.json).
#
# Checked by review only: no ESP32 runs here, and nothing calls it yet (the app-bundle update,
# station/ota.py, is the tested path). A module of its own, loaded only while an image update
# runs, so the HAL that lives for good carries none of it (names and heap: firmware/README.md
# "Memory"). The flow:
#   part = slot()                         the partition after the running one (None: no table)
#   write(part, k, data) for every block  4096-byte blocks, the last one padded with 0xFF
#   switch(part); machine.reset()         the bootloader boots it once on trial (when the
#                                         image's bootloader has rollback enabled)
#   ok()                                  from the new image, after its health check (the
#                                         same check as an app bundle's trial, station/ota.py);
#                                         without it the next reset boots the old image again

import esp32

_BLOCK = 4096


def slot():
    try:
        return esp32.Partition(esp32.Partition.RUNNING).get_next_update()
    except OSError:
        return None


def write(part, block, data):
    if len(data) < _BLOCK:
        data = bytes(data) + b"\xff" * (_BLOCK - len(data))
    part.writeblocks(block, data)


def switch(part):
    part.set_boot()


def ok():
    try:
        esp32.Partition.mark_app_valid_cancel_rollback()
    except OSError:  # a table without OTA, or a bootloader without rollback
        pass
