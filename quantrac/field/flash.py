"""Putting a station on a board: MicroPython through the ROM bootloader (esptool), then the
firmware build, config and secrets through the REPL (mpremote), every file checked by hash.

`plan()` decides what the board's flash gets besides the image: the 8 MB board's OTA partition
table (boards/partitions/, written at 0x8000 after the image, with esptool told the flash
size), or nothing on the 4 MB DevKitC (app-bundle updates live on the filesystem the image's
own table gives); it prints the filesystem's budget either way.

esptool verifies the image itself (the chip hashes the flash region it wrote) and we ask it
again with `verify-flash` after the write. Files are compared by sha256 computed on the board:
an unchanged file is not rewritten, a written one is hashed again, and modules of an older
build that would shadow the new ones (a `.py` is imported before a `.mpy`) are removed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import boards
from boards import flash_layout
from quantrac.field.board import BoardError, BoardLink, sha256

ESP_IMAGE_MAGIC = 0xE9
# Where a MicroPython release image goes (its bootloader's offset) on each chip family.
IMAGE_OFFSETS = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0,
                 "esp32c6": 0x0}
KEEP = ("boot.py",)  # MicroPython writes its own boot.py on first boot; it is not ours to prune
MODULE_SUFFIXES = (".py", ".mpy")

Echo = Callable[[str], None]


class FlashError(RuntimeError):
    """Flashing stopped; the message says where and what to do."""


@dataclass(frozen=True)
class Copied:
    path: str
    size: int
    sha256: str
    action: str  # written | unchanged | removed


def check_image(image: Path, chip: str) -> int:
    """The offset to write `image` at; FlashError when it cannot be a MicroPython image."""
    if chip not in IMAGE_OFFSETS:
        raise FlashError(f"chip {chip!r} is not one of {', '.join(IMAGE_OFFSETS)}")
    try:
        head = image.read_bytes()[:1]
    except OSError as e:
        raise FlashError(f"{image}: cannot read the image ({e.strerror})") from None
    if not head or head[0] != ESP_IMAGE_MAGIC:
        raise FlashError(f"{image}: not an ESP firmware image (first byte should be 0xE9); "
                         "use the .bin of a MicroPython release for this board")
    return IMAGE_OFFSETS[chip]


@dataclass(frozen=True)
class Plan:
    board: str
    lines: list[str]
    table: bytes | None = None      # written at 0x8000 after the image
    flash_size: str | None = None   # esptool --flash-size for the image's header


def plan(board: str, image: Path | None, chip: str = "esp32", erase: bool = True) -> Plan:
    """What `station flash` writes on `board`, as lines for the technician; FlashError for what
    must not be written (a table without an erase, an image larger than its app partition)."""
    try:
        pins = boards.pins(board)
    except boards.BoardsError as e:
        raise FlashError(str(e)) from None
    flash = pins["flash"]
    size = flash["size_bytes"]
    lines = [f"board {board}: {pins.get('title', '')}"]
    table = parts = None
    if "partitions" in flash:
        if chip != "esp32":
            raise FlashError(f"board {board} carries an ESP32; --chip {chip} cannot be right")
        parts = flash_layout.read_table(flash["partitions"], size)
        app = next(p for p in parts if p.type == "app")
        if image is not None:
            offset = check_image(image, chip)
            app_bytes = image.stat().st_size - (app.offset - offset)
            if app_bytes > app.size:
                raise FlashError(f"{image}: its app ({app_bytes} bytes from {app.offset:#x}) "
                                 f"does not fit {app.name} ({app.size} bytes) of "
                                 f"{flash['partitions']}")
            if not erase:
                raise FlashError(f"board {board}: writing {flash['partitions']} moves the "
                                 "filesystem, so the flash must be erased first: drop --no-erase")
            table = flash_layout.table_bin(parts)
            lines.append(f"partition table: boards/partitions/{flash['partitions']} written at "
                         f"{flash_layout.TABLE_OFFSET:#x} after the image ("
                         + ("full-image updates: " + " and ".join(
                             p.name for p in parts if p.ota_app) if flash.get("image_update")
                            else "its own layout") + f"); flash size {size // flash_layout.MIB} MB")
        else:
            lines.append(f"partition table: left as it is (boards/partitions/"
                         f"{flash['partitions']}, laid down with the image at the first flash)")
        for p in parts:
            lines.append(f"  {p.name:<9} {p.type:<4} {p.subtype:<6} {p.offset:#9x} "
                         f"{p.size:>8} B")
    else:
        lines.append("partition table: the image's own, kept (MicroPython's standard "
                     f"{size // flash_layout.MIB} MB table: one factory app and the vfs "
                     "filesystem); app-bundle updates need nothing but room on the filesystem")
        if image is not None:
            check_image(image, chip)
    if not flash.get("image_update"):
        lines.append(f"full-image updates: not on this board (no OTA partitions); new stations "
                     f"go on {flash_layout.NEW_STATIONS}")
    lines.append(f"filesystem: {flash['fs_bytes']} B")
    used = 0
    for what, n in flash_layout.budget(flash):
        used += n
        lines.append(f"  {what:<44} {n:>8} B")
    lines.append(f"  {'spare':<44} {flash['fs_bytes'] - used:>8} B")
    return Plan(board, lines, table,
                flash_layout.FLASH_SIZES[size] if table is not None else None)


def esptool(args: list[str], echo: Echo) -> None:
    """Run the real esptool; its lines go to `echo`; FlashError with its last words on failure."""
    cmd = [sys.executable, "-m", "esptool", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-12:]
        echo(line)
    if proc.wait() != 0:
        raise FlashError(f"esptool {args[-3] if len(args) > 2 else ''} failed (exit "
                         f"{proc.returncode}):\n" + "\n".join(tail))


def write_image(port: str, image: Path, chip: str = "esp32", baud: int = 460800,
                erase: bool = True, echo: Echo = print, layout: Plan | None = None) -> None:
    """Erase (a blank or foreign board), write and verify a MicroPython image; then the
    partition table `layout` carries, if any (after the image, whose own table it replaces)."""
    offset = check_image(image, chip)
    base = ["--chip", chip, "--port", port, "--baud", str(baud)]
    size = ["--flash-size", layout.flash_size] if layout and layout.flash_size else []
    table_next = layout is not None and layout.table is not None
    # the image must not boot before its table is replaced: it would lay a filesystem out by
    # the image's own table (inside ota_1 of ours)
    hold = ["--after", "no-reset"] if table_next else []
    if erase:
        esptool([*base, *hold, "erase-flash"], echo)
    esptool([*base, *hold, "write-flash", *size, hex(offset), str(image)], echo)
    esptool([*base, *hold, "verify-flash", *size, hex(offset), str(image)], echo)
    if table_next:
        with tempfile.TemporaryDirectory() as tmp:
            table = Path(tmp) / "partitions.bin"
            table.write_bytes(layout.table)
            at = hex(flash_layout.TABLE_OFFSET)
            esptool([*base, "write-flash", at, str(table)], echo)
            esptool([*base, "verify-flash", at, str(table)], echo)
        echo(f"partition table of {layout.board} written at {at} and verified")


def put_files(link: BoardLink, files: dict[str, Path], prune: bool = True,
              echo: Echo = print) -> list[Copied]:
    """Every `board path → laptop file` onto the board, each verified by its sha256 there."""
    done = []
    for remote, local in files.items():
        data = local.read_bytes()
        want = sha256(data)
        if link.sha256(remote) == want:
            done.append(Copied(remote, len(data), want, "unchanged"))
            continue
        link.write(remote, data)
        have = link.sha256(remote)
        if have != want:
            raise FlashError(f"{remote}: the board holds sha256 {have}, expected {want} "
                             "(flash failing or full?); run the flash again")
        done.append(Copied(remote, len(data), want, "written"))
        echo(f"  {remote} ({len(data)} B) written, sha256 verified")
    if prune:
        for path in link.files():
            if path.endswith(MODULE_SUFFIXES) and path not in files and path not in KEEP:
                link.remove(path)
                done.append(Copied(path, 0, "", "removed"))
                echo(f"  {path} removed (not in this build; it would shadow or outlive it)")
    return done


def flash(port: str, files: dict[str, Path], image: Path | None = None, chip: str = "esp32",
          bootloader_port: str | None = None, baud: int = 460800, erase: bool = True,
          boot_wait_s: float = 15.0, restart: bool = True, echo: Echo = print,
          layout: Plan | None = None) -> list[Copied]:
    """Image (when given, with the partition table `layout` carries), then files; the board
    restarts into its firmware unless told not."""
    if image is not None:
        write_image(bootloader_port or port, image, chip, baud, erase, echo, layout)
        echo("MicroPython written and verified; waiting for it to boot")
    try:
        with BoardLink(port, wait_s=boot_wait_s if image is not None else 0.0) as link:
            copied = put_files(link, files, echo=echo)
            if restart:
                link.restart_firmware()
    except BoardError as e:
        raise FlashError(str(e)) from None
    return copied
