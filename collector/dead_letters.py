"""Input the collector refused, kept as JSON lines with the reason so nothing is silently lost.

One line per refused message (or per reading the database refused):
`{"time": 1763755201.2, "topic": …, "payload": "<text>" | "payload_b64": "<base64>",
"reason": …, "class": …}`; a database refusal carries `"reading": {…}` instead of a payload.
Each append is flushed and fsync'd before it returns, because the source acknowledges the
message to the broker right after.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import threading
import time
from collections import deque
from pathlib import Path

from collector.contracts import Reading, Rejected


class DeadLetters:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def add(self, rejected: list[Rejected]) -> None:
        self._append([entry(r) for r in rejected])

    def add_readings(self, items: list[tuple[Reading, str]], cls: str = "sink") -> None:
        now = time.time()
        self._append([{"time": now, "topic": f"quantrac/v1/{r.station}/data",
                       "reading": dataclasses.asdict(r), "reason": reason, "class": cls}
                      for r, reason in items])

    def _append(self, entries: list[dict]) -> None:
        if not entries:
            return
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())


def entry(r: Rejected) -> dict:
    e = {"time": r.envelope.received_at, "topic": r.envelope.topic}
    try:
        e["payload"] = r.envelope.payload.decode("utf-8")
    except UnicodeDecodeError:
        e["payload_b64"] = base64.b64encode(r.envelope.payload).decode("ascii")
    e["reason"] = r.reason
    e["class"] = r.cls
    return e


def read(path: Path, limit: int | None = None) -> list[dict]:
    """The last `limit` entries (all when None), oldest first. A line cut short by a crash is
    returned as {"reason": "unreadable dead-letter line …"} rather than hidden."""
    path = Path(path)
    if not path.exists():
        return []
    out: deque[dict] = deque(maxlen=limit if limit else None)
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"time": None, "topic": "", "class": "unreadable",
                            "reason": f"unreadable dead-letter line {n}: {line[:80]!r}"})
    return list(out)
