"""What goes onto a station's flash: the firmware build (`quantrac firmware build`, `.mpy`
modules and main.py) plus the station's own files (config.json, secrets.json, TLS), by board path.
"""

from __future__ import annotations

import json
from pathlib import Path

from quantrac.field import workspace
from quantrac_common import paths

BUILD_ROOT = paths.ROOT / "build" / "firmware"  # fwtools.fwbuild.BUILD: <root>/<target>/
CODE_SUFFIXES = (".py", ".mpy")


class BundleError(RuntimeError):
    """Something the board needs is not built or not there yet (says which command makes it)."""


def firmware_files(build_dir: Path) -> dict[str, Path]:
    """Board path → file for every module of the build."""
    if not build_dir.is_dir():
        raise BundleError(f"{build_dir}: no firmware build; run `quantrac station build ID` "
                          "(or `quantrac firmware build`)")
    out = {}
    for path in sorted(build_dir.rglob("*")):
        rel = path.relative_to(build_dir)
        if path.is_file() and path.suffix in CODE_SUFFIXES and \
                not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = path
    if "main.py" not in out:
        raise BundleError(f"{build_dir}: the build has no main.py; rebuild the firmware")
    return out


def station_files(station_dir: Path, station_id: str) -> dict[str, Path]:
    """The station's own files; BundleError when config or secrets are missing or foreign."""
    files = workspace.board_files(station_dir)
    if workspace.CONFIG not in files:
        raise BundleError(f"no {workspace.CONFIG} for {station_id} in {station_dir}; run "
                          f"`quantrac station build {station_id}`")
    try:
        owner = json.loads(files[workspace.CONFIG].read_text()).get("station")
    except ValueError as e:
        raise BundleError(f"{files[workspace.CONFIG]}: not JSON ({e})") from None
    if owner != station_id:
        raise BundleError(f"{files[workspace.CONFIG]} is for station {owner!r}, not "
                          f"{station_id!r}; rebuild it")
    if workspace.SECRETS not in files:
        raise BundleError(f"no {workspace.SECRETS} for {station_id} in {station_dir}; run "
                          f"`quantrac station credentials {station_id}`")
    return files


def board_files(build_dir: Path, station_dir: Path, station_id: str) -> dict[str, Path]:
    return {**firmware_files(build_dir), **station_files(station_dir, station_id)}


def sizes(files: dict[str, Path]) -> list[tuple[str, int]]:
    return [(remote, local.stat().st_size) for remote, local in files.items()]


def ota_files(build_dir: Path, bundle_file: Path, public_key: Path,
              staging: Path) -> dict[str, Path]:
    """Board path → file for a station flashed for over-the-air updates: main.py and the
    loader (slots.mpy) at the root, the signed bundle (checked against `public_key` first)
    installed as slot a with its version, `ota/active` and the key (fwtools/fwbundle.py).

    The form is two slots on the filesystem: a standard MicroPython image's partition table
    (one app, one filesystem) holds it, so no other table is written."""
    from fwtools import fwbundle

    try:
        pub = public_key.read_bytes()
        made = fwbundle.verify(bundle_file.read_bytes(), pub)
    except OSError as e:
        raise BundleError(f"{e.filename}: {e.strerror}") from None
    except fwbundle.BundleError as e:
        raise BundleError(f"{bundle_file}: refused: {e}") from None
    out = {}
    for name in fwbundle.LOADER:
        if not (build_dir / name).is_file():
            raise BundleError(f"{build_dir}: no {name}; run `quantrac firmware build`")
        out[name] = build_dir / name
    fwbundle.install_slot(made, staging / "ota", pub)
    for path in sorted((staging / "ota").rglob("*")):
        if path.is_file():
            out[path.relative_to(staging).as_posix()] = path
    return out
