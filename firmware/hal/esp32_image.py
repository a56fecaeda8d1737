# Full-image updates of MicroPython itself, on a board whose partition table has two OTA app
# partitions (boards/pins/esp32-wroom-32e-n8.json, boards/partitions/esp32-8mb-ota.csv; see
# firmware/README.md "Full-image updates on the 8 MB board"). ESP32 only.
#
# The new image goes block by block into the app partition that is NOT running
# (esp32.Partition(RUNNING).get_next_update()); nothing the running image boots from is touched
# until finish() has checked the whole image (size, sha256 as written, read back from flash,
# ESP app header and chip) and only then calls set_boot(), which changes the otadata partition.
# A power cut at any byte before that boots the old image; after it, the bootloader boots the
# new one once on trial (ESP-IDF app rollback, CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE): unless
# that boot calls image_mark_valid() (esp32.Partition.mark_app_valid_cancel_rollback()) after
# the same health check an app-bundle trial passes, the next reset (the health check giving up,
# the watchdog, a crash, power) boots the old image again. So an image gets ONE trial boot.
#
# Loaded only while an image update runs or a trial image is judged (like station/ota.py), never
# at boot: the rest of the station keeps its heap. No block buffer: each chunk goes straight to
# flash (writeblocks with an offset, the block erased when the first byte of it arrives), and
# hashes are read back 512 bytes at a time, so an update costs this module, a sha256 and the
# caller's chunk. Errors are ImageError (a ValueError, so the update code's refusal path
# reports the message to the operations room).
#
#   image_update_begin(size, have=0) -> offset   open an update of `size` bytes; `have` bytes
#                                                already written by an update cut short (a
#                                                reboot, a lost link): resumed from the returned
#                                                offset (whole 4 KiB blocks, re-hashed from flash)
#   image_update_write(data)                     the next bytes, in order (the first write
#                                                holds at least the 36-byte header)
#   image_update_finish(sha256_hex) -> label     check everything, set_boot(); the caller then
#                                                records its trial note and resets the board
#   image_update_abort()                         forget an update (the old image stays booted)
#   image_running() -> label                     the app partition running now ("ota_0"/"ota_1"):
#                                                after the trial reset, not the label finish()
#                                                gave means the bootloader rolled back
#   image_mark_valid() -> label                  the trial image passed the health check

import esp32
from binascii import hexlify
from hashlib import sha256
from micropython import const

_BLOCK = const(4096)
_ERASE = const(6)            # ioctl: erase one block (os.AbstractBlockDev's extended protocol)
_HEAD = const(36)            # image header + first segment header + the app descriptor's magic
_READ = const(512)
_DATA_OTA = const(0)         # data subtype of the otadata partition
_OTA_MIN = const(0x10)       # app subtypes ota_0 .. ota_15
_OTA_MAX = const(0x1F)
_NO_ROLLBACK = const(-261)   # what mark_app_valid_cancel_rollback raises on a firmware built
#                              without CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE (MicroPython docs)
_APP_DESC = const(0xABCD5432)  # esp_app_desc_t magic, at byte 32 of an app image (not of the
#                                merged release .bin, which starts with the bootloader)


class ImageError(ValueError):
    pass


_u = None  # the update in progress: [partition, size, bytes written, sha256]


def _partitions():
    """(running, next) OTA app partitions; ImageError on a table without OTA partitions."""
    P = esp32.Partition
    ota = [p for p in P.find(P.TYPE_APP) if _OTA_MIN <= p.info()[1] <= _OTA_MAX]
    if len(ota) < 2 or not P.find(P.TYPE_DATA, _DATA_OTA):
        raise ImageError("no OTA partitions on this board (a standard 4 MB image has one "
                         "factory app): full-image updates need the 8 MB board flashed with "
                         "boards/partitions/esp32-8mb-ota.csv; update the app bundle instead")
    running = P(P.RUNNING)
    try:
        return running, running.get_next_update()
    except OSError as e:
        raise ImageError("no partition to update after %s (%s)" % (
            running.info()[4], e)) from None


def _check_head(buf):
    # The app image, not the merged .bin a first flash writes at 0x1000 (bootloader first).
    if buf[0] != 0xE9 or int.from_bytes(bytes(buf[32:36]), "little") != _APP_DESC:
        raise ImageError("not an ESP32 app image (use the OTA .app-bin / micropython.bin, not "
                         "the .bin for a first flash)")
    if buf[12] | buf[13] << 8:
        raise ImageError("image is for another chip (chip id %d, ESP32 is 0)" % (
            buf[12] | buf[13] << 8))


def _hash_flash(part, size, h):
    buf = bytearray(_READ)
    pos = 0
    while pos < size:
        mv = memoryview(buf)[:min(_READ, size - pos)]
        part.readblocks(pos // _BLOCK, mv, pos % _BLOCK)
        h.update(mv)
        pos += len(mv)
    return h


def image_update_begin(size, have=0):
    global _u
    _u = None
    running, part = _partitions()
    room = part.info()[3]
    if size <= _HEAD or size > room:
        raise ImageError("image of %d bytes does not fit %s (%d bytes)" % (
            size, part.info()[4], room))
    have = min(have, size) // _BLOCK * _BLOCK  # a block being written when cut: written again
    h = sha256()
    if have:
        head = bytearray(_HEAD)
        part.readblocks(0, head)
        _check_head(head)
        _hash_flash(part, have, h)
    _u = [part, size, have, h]
    return have


def image_update_write(data):
    u = _u
    if u is None:
        raise ImageError("no image update begun")
    part, size, done, h = u
    if done + len(data) > size:
        raise ImageError("more bytes than the %d announced" % size)
    if not done:
        if len(data) < _HEAD:
            raise ImageError("the first chunk must hold the image's first %d bytes" % _HEAD)
        _check_head(data)  # before the first byte is written
    mv = memoryview(data)
    while mv:
        off = done % _BLOCK
        if not off:
            part.ioctl(_ERASE, done // _BLOCK)
        n = min(len(mv), _BLOCK - off)
        part.writeblocks(done // _BLOCK, mv[:n], off)  # with an offset: no erase of its own
        h.update(mv[:n])
        done += n
        u[2] = done
        mv = mv[n:]


def image_update_finish(sha256_hex):
    global _u
    u = _u
    _u = None
    if u is None:
        raise ImageError("no image update begun")
    part, size, done, h = u
    if done != size:
        raise ImageError("image cut short: %d of %d bytes" % (done, size))
    if hexlify(h.digest()).decode() != sha256_hex:
        raise ImageError("image sha256 does not match the wanted one")
    # what the flash holds now, read back: a failing flash is caught before the switch
    if hexlify(_hash_flash(part, size, sha256()).digest()).decode() != sha256_hex:
        raise ImageError("image read back from %s differs from what was written" % (
            part.info()[4]))
    part.set_boot()  # ESP-IDF verifies the image here (newer MicroPython raises on a bad one)
    P = esp32.Partition
    if P(P.BOOT).info() != part.info():
        raise ImageError("%s not taken as the boot partition" % part.info()[4])
    return part.info()[4]


def image_update_abort():
    global _u
    _u = None


def image_running():
    P = esp32.Partition
    return P(P.RUNNING).info()[4]


def image_mark_valid():
    try:
        esp32.Partition.mark_app_valid_cancel_rollback()
    except OSError as e:
        if e.args and e.args[0] == _NO_ROLLBACK:
            raise ImageError("this image's bootloader has no app rollback "
                             "(CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE): a bad image would not "
                             "be rolled back; build it with MicroPython's sdkconfig.ota") from None
        raise
    return image_running()
