"""`manifest.json`: what a backup holds (every file with its size, mode and sha256; folder modes;
versions; the database's policies and measurements), written last, so a folder without one is
an interrupted backup; checked whole before a restore touches anything.

The checksums find a corrupt or altered file. They are not a signature: someone who can write
the backup folder can rewrite the manifest too, which is why the folder is 0700.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT = "quantrac-backup"
VERSION = 1
NAME = "manifest.json"
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """A backup cannot be made or restored; the message says what and what to do."""


def copy(src: Path, dst: Path, mode: int) -> tuple[int, str]:
    """Copy `src` to a new file `dst` created with `mode` (never wider, whatever the umask);
    (bytes, sha256) of what was copied, which for a file being appended to is what it held
    when read."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o777)
    try:
        os.fchmod(fd, mode & 0o777)
        with open(src, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return size, digest.hexdigest()


def digest(path: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def entry(size: int, sha256: str, mode: int) -> dict[str, Any]:
    return {"size": size, "sha256": sha256, "mode": f"{mode & 0o777:04o}"}


def write(folder: Path, doc: dict[str, Any]) -> Path:
    path = folder / NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
                 .encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def safe_rel(text: object, where: str) -> PurePosixPath:
    """A path inside the backup: relative, no `..`: a manifest never sends a file elsewhere."""
    if not isinstance(text, str) or not text:
        raise BackupError(f"{where}: {text!r} is not a path")
    rel = PurePosixPath(text)
    if rel.is_absolute() or ".." in rel.parts or "\\" in text or "\0" in text:
        raise BackupError(f"{where}: {text!r} leaves the backup folder")
    return rel


def mode_of(text: object, where: str) -> int:
    if not isinstance(text, str) or len(text) != 4 or any(c not in "01234567" for c in text):
        raise BackupError(f"{where}: mode {text!r} is not four octal digits")
    return int(text, 8)


def read(folder: Path) -> dict[str, Any]:
    """The manifest of a backup folder, its shape checked; BackupError when `folder` is not a
    backup."""
    if not folder.is_dir():
        raise BackupError(f"{folder}: no such folder")
    path = folder / NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{folder} is not a Quantrac backup: it has no {NAME} (an "
                          "interrupted backup has none either)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BackupError(f"{path}: not JSON ({e}); the backup is damaged") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise BackupError(f"{path}: not a Quantrac backup manifest (format "
                          f"{doc.get('format') if isinstance(doc, dict) else None!r})")
    if doc.get("version") != VERSION:
        raise BackupError(f"{path}: backup format version {doc.get('version')!r}; this "
                          f"quantrac reads version {VERSION}")
    for key in ("files", "dirs", "areas", "database"):
        if not isinstance(doc.get(key), dict):
            raise BackupError(f"{path}: {key} is missing or not an object")
    for rel, e in doc["files"].items():
        safe_rel(rel, f"{path}: files")
        if not isinstance(e, dict) or not isinstance(e.get("size"), int) or \
                not isinstance(e.get("sha256"), str):
            raise BackupError(f"{path}: files.{rel}: needs size and sha256")
        mode_of(e.get("mode"), f"{path}: files.{rel}")
    for rel, mode in doc["dirs"].items():
        safe_rel(rel, f"{path}: dirs")
        mode_of(mode, f"{path}: dirs.{rel}")
    db = doc["database"]
    safe_rel(db.get("folder"), f"{path}: database.folder")
    if not isinstance(db.get("name"), str) or not db["name"]:
        raise BackupError(f"{path}: database.name is missing")
    if not isinstance(doc.get("versions", {}), dict):
        raise BackupError(f"{path}: versions must be an object")
    return doc


def verify(folder: Path, doc: dict[str, Any]) -> None:
    """Every file the manifest lists is there with its size and sha256; BackupError naming
    the first one that is not (all are read, so the error lists every bad file)."""
    bad: list[str] = []
    for rel, e in sorted(doc["files"].items()):
        p = folder / rel
        if not p.is_file() or p.is_symlink():
            bad.append(f"{rel}: missing")
            continue
        size, sha = digest(p)
        if size != e["size"] or sha != e["sha256"]:
            bad.append(f"{rel}: {'size' if size != e['size'] else 'sha256'} differs from the "
                       "manifest")
    if bad:
        raise BackupError(f"{folder}: the backup does not match its manifest, nothing was "
                          f"restored: {'; '.join(bad[:10])}"
                          f"{f' (and {len(bad) - 10} more)' if len(bad) > 10 else ''}")


def area_files(doc: dict[str, Any], area: str) -> Iterator[tuple[PurePosixPath, dict]]:
    """(path inside the area, manifest entry) of one area's files."""
    for rel, e in sorted(doc["files"].items()):
        p = PurePosixPath(rel)
        if p.parts[0] == area:
            yield PurePosixPath(*p.parts[1:]), e
