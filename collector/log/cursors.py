"""Named cursors: `cursor-<name>.json` = {"segment": n, "offset": bytes}, everything of that
reader before it is done. Replaced atomically, so a crash leaves the old or the new one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from quantrac_common.files import write_atomic

Position = tuple[int, int]  # (segment number, byte offset)


def cursor_path(folder: Path, name: str) -> Path:
    return folder / f"cursor-{name}.json"


def load(folder: Path, name: str, log: logging.Logger, what: str) -> Position | None:
    """The saved position, or None when there is none or it is unreadable (said in the log:
    `what` tells the reader what reading from the start means)."""
    path = cursor_path(folder, name)
    try:
        doc = json.loads(path.read_text())
        return int(doc["segment"]), int(doc["offset"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as e:
        log.error("%s: cursor %s unreadable (%s); %s", folder.name, path, e, what)
        return None


def save(folder: Path, name: str, pos: Position) -> None:
    doc = json.dumps({"segment": pos[0], "offset": pos[1]}).encode()
    write_atomic(cursor_path(folder, name), doc)
