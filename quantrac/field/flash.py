"""Putting a station on a board: MicroPython through the ROM bootloader (esptool), then the
firmware build, config and secrets through the REPL (mpremote), every file checked by hash.

esptool verifies the image itself (the chip hashes the flash region it wrote) and we ask it
again with `verify-flash` after the write. Files are compared by sha256 computed on the board:
an unchanged file is not rewritten, a written one is hashed again, and modules of an older
build that would shadow the new ones (a `.py` is imported before a `.mpy`) are removed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
                erase: bool = True, echo: Echo = print) -> None:
    """Erase (a blank or foreign board), write and verify a MicroPython image."""
    offset = check_image(image, chip)
    base = ["--chip", chip, "--port", port, "--baud", str(baud)]
    if erase:
        esptool([*base, "erase-flash"], echo)
    esptool([*base, "write-flash", hex(offset), str(image)], echo)
    esptool([*base, "verify-flash", hex(offset), str(image)], echo)


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
          boot_wait_s: float = 15.0, restart: bool = True, echo: Echo = print) -> list[Copied]:
    """Image (when given), then files; the board restarts into its firmware unless told not."""
    if image is not None:
        write_image(bootloader_port or port, image, chip, baud, erase, echo)
        echo("MicroPython written and verified; waiting for it to boot")
    try:
        with BoardLink(port, wait_s=boot_wait_s if image is not None else 0.0) as link:
            copied = put_files(link, files, echo=echo)
            if restart:
                link.restart_firmware()
    except BoardError as e:
        raise FlashError(str(e)) from None
    return copied
