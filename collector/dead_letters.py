"""Input the collector refused, kept as JSON lines with the reason so nothing is silently lost.

One line per refused message (or per reading the database refused):
`{"time": 1763755201.2, "topic": …, "payload": "<text>" | "payload_b64": "<base64>",
"reason": …, "class": …}`; a database refusal carries `"reading": {…}` instead of a payload.
A payload over the collector's `max_payload_bytes` is not kept whole: the line holds its length
(`payload_bytes`), its `payload_sha256` and its first `HEAD_BYTES` (`payload_head` as text, or
`payload_head_b64`), so one station cannot fill the disk through this file. Each append is
flushed and fsync'd before it returns, because the source acknowledges the message to the
broker right after.

An entry's id is its position: the line number, where a line `{"gap": N}` stands for N entries
the collector dropped to make room (dead_letter_store.py). Lines are only ever appended or
replaced by such a gap, so ids never change and a file from before gaps reads the same.
`quantrac collector dead-letters replay` records what it replayed in a sidecar file
(`dead-letters.replayed.jsonl`: id, a digest of the line, when, how, what happened), so listing
shows which entries are done and a second replay skips them; `discard` records there too.
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

HEAD_BYTES = 1024  # of an oversized payload: enough to see what it is and who sent it
MAX_REASON = 1000  # characters
GAP = '{"gap": '


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


def entry(r: Rejected, max_payload: int | None = None) -> dict:
    """The dead-letter line of a refused message; a payload over `max_payload` bytes is kept
    only as its length, sha256 and first HEAD_BYTES."""
    payload = r.envelope.payload
    e: dict = {"time": r.envelope.received_at, "topic": r.envelope.topic}
    if max_payload is not None and len(payload) > max_payload:
        e["payload_bytes"] = len(payload)
        e["payload_sha256"] = hashlib.sha256(payload).hexdigest()
        e.update(_text_or_b64(payload[:HEAD_BYTES], "payload_head", cut=True))
    else:
        e.update(_text_or_b64(payload, "payload"))
    # a reason may quote the payload (a key name, say): cut it, so the line stays bounded
    e["reason"] = r.reason if len(r.reason) <= MAX_REASON else r.reason[:MAX_REASON] + "…"
    e["class"] = r.cls
    return e


def _text_or_b64(data: bytes, key: str, cut: bool = False) -> dict[str, str]:
    """{key: text} for UTF-8 that JSON escaping does not blow up (a control character takes 6
    bytes), else {key_b64: base64}: the line stays within twice the payload's size."""
    for end in range(len(data), max(-1, len(data) - 4), -1) if cut else (len(data),):
        try:  # a head cut inside a UTF-8 sequence is still text up to that sequence
            text = data[:end].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if len(json.dumps(text, ensure_ascii=False).encode()) <= 2 * len(data) + 2:
            return {key: text}
        break
    return {key + "_b64": base64.b64encode(data).decode("ascii")}


def digest(line: str) -> str:
    return hashlib.sha1(line.rstrip("\n").encode("utf-8", "replace")).hexdigest()[:16]


def gap_of(line: str) -> int:
    """How many ids a `{"gap": N}` line stands for; 0 for any other line."""
    if not line.startswith(GAP):
        return 0
    try:
        n = json.loads(line)["gap"]
    except (ValueError, KeyError, TypeError):
        return 0
    return n if isinstance(n, int) and n > 0 else 0


def replayed_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name.removesuffix(".jsonl") + ".replayed.jsonl")


def replays(path: Path) -> dict[int, dict]:
    """id → the last replay (or discard) record of that entry."""
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
    and, once replayed or discarded, `replayed` (the record). A line cut short by a crash is
    returned as {"reason": "unreadable dead-letter line …"} rather than hidden; entries dropped
    to make room are not returned."""
    path = Path(path)
    if not path.exists():
        return []
    done = replays(path)
    out: deque[dict] = deque(maxlen=limit if limit else None)
    n = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            skipped = gap_of(line)
            n += skipped or 1
            if skipped or not line.strip():
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
