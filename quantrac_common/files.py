"""Whole-file writes a crash cannot tear, and the JSON-object files our state lives in."""

from __future__ import annotations

import json
import os
from pathlib import Path


class JsonFileError(ValueError):
    """A JSON file that cannot be read as what it should hold; the message names the file."""


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None,
                 fsync: bool = True) -> None:
    """Replace `path` with `data`: a reader sees the old content or the new, never a mix.

    `mode` holds from the file's creation on (0600 for a secret is never briefly wider);
    `fsync` also makes the new content survive a power cut, at the price of a disk flush.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644 if mode is None else mode)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # an older tmp file may have been created with wider rights
        view = memoryview(data.encode() if isinstance(data, str) else data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)  # the rename itself


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a new file, a rename) survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes | str) -> None:
    """write_atomic, readable by the owner only (0600) from the start: secrets, keys, env."""
    write_atomic(path, data, mode=0o600)


def read_json_object(path: Path, error: type[Exception] = JsonFileError) -> dict:
    """The JSON object in `path`, or {} when the file does not exist yet; anything else
    raises `error` naming the file."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not JSON ({e}); remove it to start afresh") from None
    if not isinstance(doc, dict):
        raise error(f"{path}: expected a JSON object, found {type(doc).__name__}")
    return doc


def load_json_object(path: Path, error: type[Exception] = JsonFileError) -> dict:
    """The JSON object a data file (rules, limits, retention) must hold; a missing file, one
    that is not JSON or not an object raises `error` naming the file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not JSON ({e})") from None
    if not isinstance(doc, dict):
        raise error(f"{path}: must be a JSON object")
    return doc
