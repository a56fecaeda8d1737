"""Pin/flash files and partition tables (boards/flash_layout.py): the sums that decide whether a
board holds MicroPython, the backlog and the update slots, checked here since no ESP32 runs."""

from __future__ import annotations

import hashlib
import struct

import pytest

import boards
from boards import flash_layout as fl

MIB = 1 << 20


@pytest.fixture
def pins_edited(edited):
    """edited() for boards/pins/ files (boards.pins is cached too)."""
    def edit(board, fn):
        edited(f"pins/{board}", fn)
        boards.pins.cache_clear()

    yield edit
    boards.pins.cache_clear()


def test_both_boards_load_and_the_new_one_is_the_8mb_module_with_ota_partitions():
    old, new = boards.pins("esp32-devkitc"), boards.pins(fl.NEW_STATIONS)
    assert old["flash"]["size_bytes"] == 4 * MIB and not old["flash"]["image_update"]
    assert new["flash"]["size_bytes"] == 8 * MIB and new["flash"]["image_update"]
    assert new["uarts"] == old["uarts"]  # same wiring: a station's config.json is the same


def test_the_8mb_table_fits_its_flash_with_two_2mib_image_partitions():
    parts = fl.read_table("esp32-8mb-ota.csv", 8 * MIB)
    by = {p.name: p for p in parts}
    assert by["ota_0"].size == by["ota_1"].size == 2 * MIB
    assert by["otadata"].size == 0x2000
    assert parts[0].offset >= fl.TABLE_OFFSET + 0x1000
    assert all(a.end <= b.offset for a, b in zip(parts, parts[1:], strict=False))
    assert parts[-1].end == 8 * MIB  # nothing left unused, nothing past the end
    assert by["vfs"].size == boards.pins(fl.NEW_STATIONS)["flash"]["fs_bytes"]
    # the same table on a 4 MB chip: its own arithmetic refuses it
    with pytest.raises(boards.BoardsError, match=r"ota_1: ends at 0x410000, past the "
                                                 r"0x400000-byte flash \(65536 bytes too many\)"):
        fl.read_table("esp32-8mb-ota.csv", 4 * MIB)


def test_each_boards_filesystem_holds_the_backlog_two_slots_and_a_download():
    # the figures firmware/README.md quotes
    spare = {}
    for board in ("esp32-devkitc", fl.NEW_STATIONS):
        flash = boards.pins(board)["flash"]
        need = dict(fl.budget(flash))
        assert need["backlog"] == MIB
        assert need["app slot a"] == need["app slot b"] == 256 * 1024
        spare[board] = flash["fs_bytes"] - sum(need.values())
    assert spare == {"esp32-devkitc": 65536, fl.NEW_STATIONS: 2 * MIB}
    readme = " ".join((fl.HERE.parent / "firmware" / "README.md").read_text().split())
    assert (f"Spare: **{spare['esp32-devkitc'] // 1024} KiB** of the DevKitC's "
            f"{boards.pins('esp32-devkitc')['flash']['fs_bytes']:,}-byte filesystem") in readme
    assert f"**{spare[fl.NEW_STATIONS] / MIB:.2f} MiB** of the 8 MB board's vfs" in readme


def test_a_pin_file_whose_sums_do_not_hold_is_refused_naming_the_key(pins_edited):
    pins_edited("esp32-devkitc", lambda d: d["flash"].update(backlog_bytes=2 * MIB))
    with pytest.raises(boards.BoardsError, match=r"boards/pins/esp32-devkitc.json: "
                       r"flash.fs_bytes: the 2097152-byte filesystem does not hold backlog "
                       r"2097152 \+ app slot a 262144 .* = 3080192 bytes \(983040 too many\)"):
        boards.pins("esp32-devkitc")


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["flash"].update(image_update=True), "flash.image_update: needs "
     "flash.partitions with two OTA app partitions"),
    (lambda d: d["flash"].update(size_bytes=3 * MIB), "flash.size_bytes: 3145728 is not one "
     "of"),
    (lambda d: d["uarts"]["rs485"].update(tx=40), r"uarts.rs485.tx: 40 is not 0..39"),
    (lambda d: d["flash"].update(partitions="esp32-8mb-ota.csv"), r"boards/partitions/"
     r"esp32-8mb-ota.csv: ota_1: ends at 0x410000, past the 0x400000-byte flash"),
])
def test_a_wrong_pin_file_is_refused(pins_edited, edit, message):
    pins_edited("esp32-devkitc", edit)
    with pytest.raises(boards.BoardsError, match=message):
        boards.pins("esp32-devkitc")


def test_the_8mb_file_must_say_the_size_of_its_vfs(pins_edited):
    pins_edited(fl.NEW_STATIONS, lambda d: d["flash"].update(fs_bytes=4 * MIB))
    with pytest.raises(boards.BoardsError, match=r"flash.fs_bytes: 4194304 is not the size of "
                                                 r"esp32-8mb-ota.csv's vfs \(4128768\)"):
        boards.pins(fl.NEW_STATIONS)


TABLE = """nvs, data, nvs, 0x9000, 0x4000
otadata, data, ota, 0xd000, 0x2000
phy_init, data, phy, 0xf000, 0x1000
ota_0, app, ota_0, 0x10000, 2M
ota_1, app, ota_1, 0x210000, 2M
vfs, data, fat, 0x410000, 0x3f0000
"""


@pytest.mark.parametrize("old, new, message", [
    ("ota_1, app, ota_1, 0x210000", "ota_1, app, ota_1, 0x208000",
     r"ota_1: offset 0x208000 is not a multiple of 0x10000"),
    ("ota_1, app, ota_1, 0x210000", "ota_1, app, ota_1, 0x200000",
     r"ota_1: starts at 0x200000, inside ota_0 \(which ends at 0x210000\)"),
    ("nvs, data, nvs, 0x9000", "nvs, data, nvs, 0x8000", r"nvs: starts at 0x8000, inside the "
     "table"),
    ("otadata, data, ota, 0xd000, 0x2000", "otadata, data, nvs, 0xd000, 0x2000",
     r"OTA app partitions need one 'ota' data partition"),
    ("vfs, data, fat", "fs, data, fat", r"no 'vfs' partition"),
    ("ota_0, app, ota_0", "ota_0, app, ota_9x", r"subtype 'ota_9x' is not one of"),
    ("0x3f0000", "0x400000", r"vfs: ends at 0x810000, past the 0x800000-byte flash"),
])
def test_a_wrong_table_is_refused_naming_the_partition(old, new, message):
    assert fl.check_table(fl.parse_table(TABLE, "t.csv"), 8 * MIB, "t.csv") is None
    with pytest.raises(boards.BoardsError, match=message):
        fl.check_table(fl.parse_table(TABLE.replace(old, new), "t.csv"), 8 * MIB, "t.csv")


def test_the_table_bytes_are_what_the_bootloader_reads():
    parts = fl.read_table("esp32-8mb-ota.csv", 8 * MIB)
    raw = fl.table_bin(parts)
    assert len(raw) == 0xC00
    entries = [struct.unpack("<2sBBLL16sL", raw[i:i + 32]) for i in range(0, 32 * 6, 32)]
    assert [(e[0], e[1], e[2], e[3], e[4], e[5].rstrip(b"\0")) for e in entries] == [
        (b"\xaa\x50", 1, 0x02, 0x9000, 0x4000, b"nvs"),
        (b"\xaa\x50", 1, 0x00, 0xD000, 0x2000, b"otadata"),
        (b"\xaa\x50", 1, 0x01, 0xF000, 0x1000, b"phy_init"),
        (b"\xaa\x50", 0, 0x10, 0x10000, 0x200000, b"ota_0"),
        (b"\xaa\x50", 0, 0x11, 0x210000, 0x200000, b"ota_1"),
        (b"\xaa\x50", 1, 0x81, 0x410000, 0x3F0000, b"vfs"),
    ]
    md5 = raw[32 * 6:32 * 7]
    assert md5[:16] == b"\xeb\xeb" + b"\xff" * 14
    assert md5[16:] == hashlib.md5(raw[:32 * 6]).digest()
    assert set(raw[32 * 7:]) == {0xFF}


def test_the_slot_size_is_the_bundle_tools():
    fwbundle = pytest.importorskip("fwtools.fwbundle")  # the app-bundle OTA branch (issue 19)
    for board in ("esp32-devkitc", fl.NEW_STATIONS):
        assert boards.pins(board)["flash"]["app_slot_bytes"] == fwbundle.SLOT_BYTES
