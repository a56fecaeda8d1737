"""Snapshots on disk, by station and local date, with a retention limit.

    <folder>/<station>/<yyyy-mm-dd>/<yyyymmdd-HHMMSS>-<reason>.jpg

`prune()` deletes date folders older than `retention_days` and then, while the folder holds
more than `max_bytes`, the oldest images first. Paths handed out (in notifications and the
`snapshot` points) are relative to the folder, so `[camera] public_url` can serve it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

log = logging.getLogger("quantrac.collector.camera")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SnapshotStore:
    def __init__(self, folder: Path, tz: ZoneInfo, *, retention_days: float = 30.0,
                 max_bytes: int = 10 << 30) -> None:
        self.folder, self.tz = Path(folder), tz
        self.retention_days, self.max_bytes = retention_days, max_bytes
        self._lock = threading.Lock()

    def save(self, station: str, t: float, reason: str, data: bytes) -> str:
        """Write the image (atomically: a reader never sees half of it); its relative path."""
        when = datetime.fromtimestamp(t, self.tz)
        day = self.folder / station / f"{when:%Y-%m-%d}"
        stem = f"{when:%Y%m%d-%H%M%S}-{reason}"
        with self._lock:
            day.mkdir(parents=True, exist_ok=True)
            path, n = day / f"{stem}.jpg", 1
            while path.exists():
                n += 1
                path = day / f"{stem}-{n}.jpg"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return path.relative_to(self.folder).as_posix()

    def prune(self, now: float) -> int:
        """Apply the retention limits; the number of images deleted."""
        removed = 0
        oldest: date = datetime.fromtimestamp(now, self.tz).date() - \
            timedelta(days=self.retention_days)
        with self._lock:
            images: list[tuple[str, Path, int]] = []
            for station in sorted(p for p in self.folder.iterdir() if p.is_dir()) \
                    if self.folder.exists() else []:
                for day in sorted(p for p in station.iterdir() if DAY.match(p.name)):
                    files = sorted(day.glob("*.jpg"))
                    if date.fromisoformat(day.name) < oldest:
                        for f in files:
                            f.unlink(missing_ok=True)
                            removed += 1
                        _rmdir(day)
                        continue
                    images += [(f.name, f, f.stat().st_size) for f in files]
            total = sum(size for _, _, size in images)
            for _, f, size in sorted(images):  # names start with the time: oldest first
                if total <= self.max_bytes:
                    break
                f.unlink(missing_ok=True)
                total -= size
                removed += 1
                if not any(f.parent.iterdir()):
                    _rmdir(f.parent)
        if removed:
            log.info("camera: retention removed %d images from %s", removed, self.folder)
        return removed


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
