"""A board's flash: its pin/flash file checked, the partition table it needs
(`boards/partitions/<name>.csv`), that table as the bytes ESP-IDF's bootloader reads at 0x8000,
and the budget of the filesystem beside the firmware image.

Two update forms (firmware/README.md): the app bundle in two slots on the filesystem (every
board; the 4 MB DevKitC keeps MicroPython's own partition table, nothing is rewritten), and the
full MicroPython image into the other OTA app partition (the 8 MB board only: its table has two
app partitions and otadata). Imported by `boards.pins()`, so a pin file whose sums do not hold
never reaches a station.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from boards import BoardsError

HERE = Path(__file__).resolve().parent
NEW_STATIONS = "esp32-wroom-32e-n8"  # the board new stations are built on (boards/README.md)
MIB = 1 << 20
FLASH_SIZES = {4 * MIB: "4MB", 8 * MIB: "8MB", 16 * MIB: "16MB"}  # esptool's --flash-size
TABLE_OFFSET = 0x8000
TABLE_BYTES = 0xC00  # 95 entries and the MD5 entry; the rest of the 4 KiB sector is 0xFF
FIRST_PARTITION = TABLE_OFFSET + 0x1000
IMAGE_MIN = 0x180000  # MicroPython's own 4 MiB OTA table gives an app 1.5 MiB: none smaller
# What lives on the filesystem besides the backlog and the app slots: the build flashed by
# cable (today 37 files, 63.8 KB, but LittleFS gives every file over 128 bytes whole 4 KiB
# blocks: about 152 KiB), config, secrets, TLS files, the station's state and update files.
ROOT_RESERVE = 192 * 1024
FS_BLOCK = 4096  # a LittleFS block: the unit a file's flash use comes in
FS_INLINE = 128  # LittleFS keeps a file up to this size inside its folder's metadata
TYPES = {"app": 0x00, "data": 0x01}
SUBTYPES = {
    "app": {"factory": 0x00, "test": 0x20, **{f"ota_{i}": 0x10 + i for i in range(16)}},
    "data": {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04,
             "efuse": 0x05, "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82,
             "littlefs": 0x83},
}


@dataclass(frozen=True)
class Part:
    name: str
    type: str
    subtype: str
    offset: int
    size: int

    @property
    def end(self) -> int:
        return self.offset + self.size

    @property
    def ota_app(self) -> bool:
        return self.type == "app" and self.subtype.startswith("ota_")


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise BoardsError(f"{where}: {msg}")


def _number(text: str, where: str) -> int:
    t = text.strip().upper()
    scale = {"K": 1024, "M": MIB}.get(t[-1:], 1)
    try:
        return int(t[:-1] if scale > 1 else t, 0) * scale
    except ValueError:
        raise BoardsError(f"{where}: {text.strip()!r} is not a number (0x… or N, NK, NM)") from None


def parse_table(text: str, where: str) -> list[Part]:
    """ESP-IDF's CSV form (name, type, subtype, offset, size); every offset written out."""
    parts = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        cells = [c.strip() for c in line.split(",")]
        w = f"{where}: line {n}"
        _need(len(cells) >= 5 and all(cells[:5]), w,
              "needs name, type, subtype, offset, size (offsets are never left to the tool)")
        name, ptype, sub = cells[:3]
        _need(ptype in TYPES, w, f"type {ptype!r} is not app|data")
        _need(sub in SUBTYPES[ptype], w,
              f"subtype {sub!r} is not one of {', '.join(SUBTYPES[ptype])}")
        parts.append(Part(name, ptype, sub, _number(cells[3], w), _number(cells[4], w)))
    return parts


def check_table(parts: list[Part], flash_bytes: int, where: str) -> None:
    """What the bootloader and MicroPython need of the table, each failure named."""
    _need(bool(parts), where, "no partitions")
    _need(len(parts) <= TABLE_BYTES // 32 - 1, where, f"{len(parts)} partitions (at most 95)")
    names = [p.name for p in parts]
    for p in parts:
        w = f"{where}: {p.name}"
        _need(0 < len(p.name.encode()) <= 15, w, "a name of 1 to 15 bytes")
        _need(names.count(p.name) == 1, w, "named twice")
        align = 0x10000 if p.type == "app" else 0x1000
        _need(p.offset % align == 0, w, f"offset {p.offset:#x} is not a multiple of {align:#x}")
        _need(p.size > 0 and p.size % 0x1000 == 0, w,
              f"size {p.size:#x} is not a whole number of 4 KiB sectors")
        _need(p.end <= flash_bytes, w, f"ends at {p.end:#x}, past the {flash_bytes:#x}-byte "
              f"flash ({p.end - flash_bytes} bytes too many)")
    _need(parts[0].offset >= FIRST_PARTITION, f"{where}: {parts[0].name}",
          f"starts at {parts[0].offset:#x}, inside the table (0x8000-0x8fff)")
    for a, b in zip(parts, parts[1:], strict=False):
        _need(b.offset >= a.end, f"{where}: {b.name}",
              f"starts at {b.offset:#x}, inside {a.name} (which ends at {a.end:#x})")
    _need(any(p.type == "app" for p in parts), where, "no app partition to boot")
    _need("vfs" in names, where, "no 'vfs' partition (MicroPython mounts its filesystem there)")
    ota = [p for p in parts if p.ota_app]
    if ota:
        _need(len(ota) >= 2, where, "one OTA app partition: an update needs a second")
        _need(len({p.size for p in ota}) == 1, where, "OTA app partitions of different sizes")
        otadata = [p for p in parts if p.type == "data" and p.subtype == "ota"]
        _need(len(otadata) == 1 and otadata[0].size == 0x2000, where,
              "OTA app partitions need one 'ota' data partition of 0x2000 (otadata)")


def read_table(name: str, flash_bytes: int) -> list[Part]:
    path = HERE / "partitions" / name
    where = f"boards/partitions/{name}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BoardsError(f"{where}: no such file") from None
    parts = parse_table(text, where)
    check_table(parts, flash_bytes, where)
    return parts


def table_bin(parts: list[Part]) -> bytes:
    """The table as ESP-IDF writes it at 0x8000: 32-byte entries, the MD5 entry, 0xFF."""
    out = b"".join(struct.pack("<2sBBLL16sL", b"\xaa\x50", TYPES[p.type],
                               SUBTYPES[p.type][p.subtype], p.offset, p.size,
                               p.name.encode(), 0) for p in parts)
    out += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(out).digest()
    return out + b"\xff" * (TABLE_BYTES - len(out))


def budget(flash: dict) -> list[tuple[str, int]]:
    """What the filesystem must hold, item by item (bytes)."""
    slot = flash["app_slot_bytes"]
    return [("backlog", flash["backlog_bytes"]),
            ("app slot a", slot), ("app slot b", slot),
            ("bundle being downloaded", slot),
            ("flashed build, config, secrets, TLS, state", ROOT_RESERVE)]


def fs_blocks(files: dict[str, int]) -> int:
    """LittleFS blocks a folder of files (relative path: bytes) takes: whole blocks for each
    file over FS_INLINE bytes, and a metadata pair (2 blocks) for the folder and each
    subfolder."""
    folders = {""} | {path.rsplit("/", 1)[0] for path in files if "/" in path}
    return 2 * len(folders) + sum(-(-n // FS_BLOCK) for n in files.values() if n > FS_INLINE)


def _positive(flash: dict, key: str, where: str) -> int:
    v = flash.get(key)
    _need(isinstance(v, int) and not isinstance(v, bool) and v > 0, f"{where}: flash.{key}",
          f"{v!r} is not a positive number of bytes")
    return v


def check_pins(pins: dict, board: str) -> dict:
    """A pin/flash file (boards/pins/<board>.json) as the firmware and `station flash` need it."""
    where = f"boards/pins/{board}.json"
    _need(pins.get("board") == board, f"{where}: board", f"{pins.get('board')!r} is not {board!r}")
    uarts = pins.get("uarts")
    _need(isinstance(uarts, dict) and bool(uarts), f"{where}: uarts", "at least one UART")
    for name, u in uarts.items():
        w = f"{where}: uarts.{name}"
        for key, lo, hi in (("id", 0, 2), ("tx", 0, 39), ("rx", 0, 39), ("de", -1, 39),
                            ("rxbuf", 64, 65536)):
            v = u.get(key, -1 if key == "de" else None)
            _need(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi,
                  f"{w}.{key}", f"{v!r} is not {lo}..{hi}")
    flash = pins.get("flash")
    _need(isinstance(flash, dict), f"{where}: flash", "missing")
    size = flash.get("size_bytes")
    _need(size in FLASH_SIZES, f"{where}: flash.size_bytes",
          f"{size!r} is not one of {', '.join(map(str, FLASH_SIZES))}")
    fs = _positive(flash, "fs_bytes", where)
    for key in ("backlog_bytes", "app_slot_bytes"):
        _positive(flash, key, where)
    image_update = flash.get("image_update", False)
    _need(isinstance(image_update, bool), f"{where}: flash.image_update", "true or false")
    if "partitions" in flash:
        parts = read_table(flash["partitions"], size)
        vfs = next(p for p in parts if p.name == "vfs")
        _need(fs == vfs.size, f"{where}: flash.fs_bytes",
              f"{fs} is not the size of {flash['partitions']}'s vfs ({vfs.size})")
        apps = [p for p in parts if p.type == "app"]
        _need(min(p.size for p in apps) >= IMAGE_MIN, f"{where}: flash.partitions",
              f"an app partition under {IMAGE_MIN:#x} bytes cannot hold a MicroPython image")
        _need(not image_update or any(p.ota_app for p in parts),
              f"{where}: flash.image_update", f"{flash['partitions']} has no OTA partitions")
    else:
        _need(not image_update, f"{where}: flash.image_update",
              "needs flash.partitions with two OTA app partitions (the image's own table has "
              "one factory app)")
    need = sum(n for _, n in budget(flash))
    _need(need <= fs, f"{where}: flash.fs_bytes",
          f"the {fs}-byte filesystem does not hold "
          + " + ".join(f"{what} {n}" for what, n in budget(flash))
          + f" = {need} bytes ({need - fs} too many)")
    return pins
