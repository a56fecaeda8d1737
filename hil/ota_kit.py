"""What an OTA scenario publishes: the unix-port .mpy build, a signing key, and the signed
bundles a scenario's `firmware.bundles` names, each of one kind:

- `good`: the build as it is, signed with the run's key;
- `raises-at-boot`: the build with its `station/app.mpy` replaced by a module that raises
  `RuntimeError("bundle <ver> raises at boot")` at import: the new code fails at boot;
- `tampered`: the good bundle with a byte of its last file flipped after signing (its sha256
  no longer matches the signed manifest);
- `signed-by-another-key`: the build signed with a key the stations do not hold.

The build is compiled once per set of sources (cached under `<run_dir>/ota/build-<hash>/`:
only the modules a board's filesystem takes, not the ROMFS image, which no unix-port station
reads); the key is made once per run folder (`<run_dir>/ota/sign.pem`, 0600), as the
operations centre keeps one.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fwtools import fwbuild, fwbundle

KINDS = ("good", "raises-at-boot", "tampered", "signed-by-another-key")
_LOCK = threading.Lock()  # scenarios side by side share one build and one key


@dataclass
class Kit:
    build: Path                 # the unix .mpy build: main.py, slots.mpy and the app
    key: Path                   # the operations centre's signing key
    public: bytes               # its modulus: a station's ota/key
    installed: fwbundle.Bundle  # what every station runs from slot a at the start
    bundles: dict[str, fwbundle.Bundle] = field(default_factory=dict)  # version -> bundle


def _sources_hash() -> str:
    h = hashlib.sha256()
    h.update(subprocess.run([str(fwbuild.mpy_cross()), "--version"], capture_output=True,
                            check=False).stdout)
    for src, rel, compiled in fwbuild.sources():
        h.update(f"{rel}:{compiled}:".encode())
        h.update(src.read_bytes())
    return h.hexdigest()[:16]


def build_unix(root: Path) -> Path:
    """The unix target's folder (as `quantrac firmware build` makes it, without the ROMFS
    image), compiled once per set of sources."""
    folder = root / f"build-{_sources_hash()}"
    done = folder / ".complete"
    if done.exists():
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    for src, rel, compiled in fwbuild.sources():
        if compiled:
            fwbuild.compile_module("unix", src, folder / (rel[:-3] + ".mpy"),
                                   fwbuild.board_path(rel))
        else:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, folder / rel)
    done.write_text("")
    return folder


def _key(path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fwbundle.keygen(path)
    return path


def raising_build(build: Path, out: Path, version: str) -> Path:
    """A copy of `build` whose station/app.mpy raises at import."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(build, out)
    src = out.parent / f"{out.name}-boom.py"
    src.write_text(f"raise RuntimeError('bundle {version} raises at boot')\n")
    fwbuild.compile_module("unix", src, out / "station" / "app.mpy",
                           fwbuild.board_path("station/app.py"))
    return out


def tampered(bundle: fwbundle.Bundle) -> fwbundle.Bundle:
    """The same signed manifest over bytes that are no longer what it lists."""
    blob = bytearray(bundle.blob)
    blob[-100] ^= 0xFF  # inside the last file: its sha256 no longer matches
    return fwbundle.Bundle(bundle.manifest, bundle.manifest_bytes, bundle.signature,
                           bundle.files, bytes(blob))


def is_build(folder: Path | None) -> bool:
    """Whether `folder` is a unix .mpy build a station can be flashed for OTA from."""
    return folder is not None and all((folder / n).is_file() for n in fwbundle.LOADER) \
        and (folder / "station" / "app.mpy").is_file()


def make(run_dir: Path, work: Path, installed: str, bundles: dict[str, str],
         build: Path | None = None) -> Kit:
    """The build (`build`, a release's, or the checkout's compiled), the key and every
    bundle a scenario names; `work` holds its own copies."""
    root = run_dir / "ota"
    with _LOCK:
        build = build if is_build(build) else build_unix(root)
        key = _key(root / "sign.pem")
        other = _key(root / "other.pem") if "signed-by-another-key" in bundles.values() \
            else None
    kit = Kit(build, key, fwbundle.public_path(key).read_bytes(),
              fwbundle.make(build, installed, key))
    for version, kind in bundles.items():
        if kind == "good":
            b = fwbundle.make(build, version, key)
        elif kind == "raises-at-boot":
            b = fwbundle.make(raising_build(build, work / f"raises-{version}", version),
                              version, key)
        elif kind == "tampered":
            b = tampered(fwbundle.make(build, version, key))
        elif kind == "signed-by-another-key":
            b = fwbundle.make(build, version, other)
        else:
            raise ValueError(f"bundle kind {kind!r} is not one of {', '.join(KINDS)}")
        kit.bundles[version] = b
    return kit
