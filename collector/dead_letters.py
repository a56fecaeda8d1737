"""Input the collector refused, kept as JSON lines with the reason so nothing is silently lost.

One line per refused message (or per reading the database refused):
`{"time": 1763755201.2, "topic": …, "payload": "<text>" | "payload_b64": "<base64>",
"reason": …, "class": …}`; a database refusal carries `"reading": {…}` instead of a payload.
Each append is flushed and fsync'd before it returns, because the source acknowledges the
message to the broker right after.

An entry's id is its line number. The file is only ever appended to; `quantrac collector
dead-letters replay` records what it replayed in a sidecar file
(`dead-letters.replayed.jsonl`: id, a digest of the line, when, how, what happened), so listing
shows which entries are done and a second replay skips them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import threading
import time
from collections import deque
from pathlib import Path

from collector.contracts import Point, Reading, Rejected


class DeadLetters:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def add(self, rejected: list[Rejected]) -> None:
        self._append([entry(r) for r in rejected])

    def add_readings(self, items: list[tuple[Reading | Point, str]], cls: str = "sink") -> None:
        now = time.time()
        self._append([{"time": now, "topic": f"quantrac/v1/{r.station}/data",
                       "point" if isinstance(r, Point) else "reading": dataclasses.asdict(r),
                       "reason": reason, "class": cls}
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


def digest(line: str) -> str:
    return hashlib.sha1(line.rstrip("\n").encode("utf-8", "replace")).hexdigest()[:16]


def replayed_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(".jsonl") + ".replayed.jsonl")


def replays(path: Path) -> dict[int, dict]:
    """id → the last replay record of that entry."""
    side = replayed_path(path)
    out: dict[int, dict] = {}
    if side.exists():
        with open(side, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    out[int(rec["id"])] = rec
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: that entry simply shows as not replayed
    return out


def mark_replayed(path: Path, records: list[dict]) -> None:
    """Append replay records ({"id", "digest", "time", "how", "result"}), fsync'd."""
    DeadLetters(replayed_path(path))._append(records)


def read(path: Path, limit: int | None = None, pending_only: bool = False) -> list[dict]:
    """The last `limit` entries (all when None), oldest first, each with its `id` and `digest`
    and, once replayed, `replayed` (the replay record). A line cut short by a crash is
    returned as {"reason": "unreadable dead-letter line …"} rather than hidden."""
    path = Path(path)
    if not path.exists():
        return []
    done = replays(path)
    out: deque[dict] = deque(maxlen=limit if limit else None)
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                if not isinstance(e, dict):
                    raise ValueError("not an object")
            except ValueError:
                e = {"time": None, "topic": "", "class": "unreadable",
                     "reason": f"unreadable dead-letter line {n}: {line[:80]!r}"}
            e["id"], e["digest"] = n, digest(line)
            rec = done.get(n)
            if rec is not None and rec.get("digest") == e["digest"]:  # else: another file's
                e["replayed"] = rec
            if pending_only and "replayed" in e:
                continue
            out.append(e)
    return list(out)
