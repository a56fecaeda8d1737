"""The collector's dead-letter file, bounded by `[collector] dead_letters_max_bytes` without
ever dropping what only this file holds.

To make room it drops, first to last: entries already replayed or discarded (their content is
in the database, went through the collector again, or an operator gave it up), then refused
input (every class but `sink` and `internal`), oldest first. It never drops a reading the
database refused (`sink`: the message was acknowledged long ago, this line is the reading's
only copy) nor a message a processor failed on (`internal`: its readings may well be good).
A dropped entry becomes part of a `{"gap": N}` line, so every other entry keeps its id and its
digest (the replay marks still match).

When the entries it must keep leave no room, `add` raises `DeadLettersFull` and the store
stays `full`: the pipeline stops acknowledging and the drain keeps the refused readings in the
spool. `room()` looks again after an operator replayed or discarded something (the sidecar
changed). Only one collector writes the file (a lock next to it), because a compaction
rewrites it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from array import array
from pathlib import Path

from collector.contracts import Rejected
from collector.dead_letters import DeadLetters, digest, entry, gap_of, replayed_path, replays
from quantrac_common.files import fsync_dir

log = logging.getLogger("quantrac.collector.dead_letters")
KEEP_CLASSES = (b"sink", b"internal")
LOW_WATER = 0.75  # a compaction frees down to this share of the cap, so it runs seldom
CLASS_AT_END = re.compile(rb'"class": "([^"\\]*)"}\s*$')  # our lines end with their class
KEEP, DONE, INPUT, GAP, DROP = range(5)


class DeadLettersFull(OSError):
    """The store holds only entries it must keep and the new ones do not all fit: the first
    `written` went in (in order), the rest did not."""

    def __init__(self, message: str, written: int = 0) -> None:
        super().__init__(message)
        self.written = written


class DeadLettersLocked(RuntimeError):
    """Another collector writes this dead-letter file."""


class DeadLetterStore(DeadLetters):
    """`add(rejected)`, `add_readings(items)`, `full`, `room()`, `stats()`, `close()`."""

    def __init__(self, path: Path, max_bytes: int, max_payload_bytes: int | None = None) -> None:
        super().__init__(path)
        self.max_bytes, self.max_payload_bytes = max_bytes, max_payload_bytes
        self.evicted = 0
        self._full = False
        self._need = 0
        self._tried: tuple | None = None  # what the file looked like when room was not found
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock(self.path)
        try:
            self._size = self._repair()
            if self._size > max_bytes and not self._make_room(0):
                self._full = True
                log.error("%s", self._full_message())
        except BaseException:
            self.close()
            raise

    @property
    def full(self) -> bool:
        """True while the last append found no room (and `room()` has not found any since)."""
        return self._full

    def add(self, rejected: list[Rejected]) -> None:
        self._append([entry(r, self.max_payload_bytes) for r in rejected])

    def room(self) -> bool:
        """Whether the store takes appends again, making room when replays or discards allow."""
        with self._lock:
            if self._full and (self._size + self._need <= self.max_bytes
                               or self._make_room(self._need)):
                self._full = False
                log.info("dead-letter store %s has room again (%d of %d bytes)", self.path,
                         self._size, self.max_bytes)
            return not self._full

    def stats(self) -> dict:
        return {"bytes": self._size, "max_bytes": self.max_bytes, "full": self._full,
                "evicted": self.evicted}

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = -1

    def _append(self, entries: list[dict]) -> None:
        """All entries, or as many as fit and then DeadLettersFull."""
        if not entries:
            return
        lines = [(json.dumps(e, ensure_ascii=False) + "\n").encode() for e in entries]
        with self._lock:
            fit, total = len(lines), sum(map(len, lines))
            if self._size + total > self.max_bytes and not self._make_room(total):
                fit, room = 0, self.max_bytes - self._size
                while fit < len(lines) and len(lines[fit]) <= room:
                    room -= len(lines[fit])
                    fit += 1
            if fit:
                self._write(b"".join(lines[:fit]))
            if fit < len(lines):
                if not self._full:
                    log.error("%s", self._full_message())
                self._full, self._need = True, len(lines[fit])
                raise DeadLettersFull(self._full_message(), fit)
            self._full = False

    def _write(self, data: bytes) -> None:
        try:
            with open(self.path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            if self.path.exists():
                os.truncate(self.path, self._size)  # no half line for the next one to join
            raise
        self._size += len(data)

    def _full_message(self) -> str:
        return (f"dead-letter store {self.path} is full: {self._size} of {self.max_bytes} bytes "
                "([collector] dead_letters_max_bytes) are readings the database refused and "
                "messages a processor failed on, which are never dropped; replay or discard "
                "them (quantrac collector dead-letters) or raise the cap")

    def _make_room(self, need: int) -> bool:
        """Drop what may go until `need` more bytes fit; False when they still do not."""
        seen = (self._size, _stamp(replayed_path(self.path)))
        if seen == self._tried:
            return False  # nothing was replayed, discarded or added since the last try
        self._compact(need)
        if self._size + need <= self.max_bytes:
            self._tried = None
            return True
        self._tried = (self._size, _stamp(replayed_path(self.path)))
        return False

    def _compact(self, need: int) -> None:
        if not self._size:
            return
        sizes, kinds, gaps = self._scan()
        low = int(self.max_bytes * LOW_WATER)
        after = self._size
        for i, k in enumerate(kinds):
            if k == DONE:
                kinds[i], after = DROP, after - sizes[i]
        for i, k in enumerate(kinds):  # oldest first
            if after + need <= low:
                break
            if k == INPUT:
                kinds[i], after = DROP, after - sizes[i]
        dropped = kinds.count(DROP)
        if not dropped:
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        gap = 0
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for i, raw in enumerate(src):
                if kinds[i] in (DROP, GAP):
                    gap += gaps.get(i, 1)
                    continue
                if gap:
                    dst.write(b'{"gap": %d}\n' % gap)
                    gap = 0
                dst.write(raw if raw.endswith(b"\n") else raw + b"\n")
            if gap:  # the ids of later appends count on it
                dst.write(b'{"gap": %d}\n' % gap)
            dst.flush()
            os.fsync(dst.fileno())
            size = dst.tell()
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
        self.evicted += dropped
        log.warning("dead letters: %d entries dropped to make room (replayed or discarded ones, "
                    "then refused input, oldest first); %d -> %d of %d bytes", dropped,
                    self._size, size, self.max_bytes)
        self._size = size

    def _scan(self) -> tuple[array, bytearray, dict[int, int]]:
        """Per line: its size, what it is (KEEP, DONE, INPUT, GAP), and ids a gap line holds."""
        done = replays(self.path)
        sizes, kinds, gaps = array("q"), bytearray(), {}
        n = 0
        with open(self.path, "rb") as f:
            for i, raw in enumerate(f):
                sizes.append(len(raw))
                line = raw.decode("utf-8", "replace")
                skipped = gap_of(line)
                if skipped:
                    kinds.append(GAP)
                    gaps[i], n = skipped, n + skipped
                    continue
                n += 1
                rec = done.get(n)
                if rec is not None and rec.get("digest") == digest(line):
                    kinds.append(DONE)
                elif _must_keep(raw):
                    kinds.append(KEEP)
                else:
                    kinds.append(INPUT)
        return sizes, kinds, gaps

    def _repair(self) -> int:
        """The file's size, after ending a line a crash cut short (else the next entry would
        join it) and removing a compaction's leftover."""
        self.path.with_name(f".{self.path.name}.tmp").unlink(missing_ok=True)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size:
            with open(self.path, "rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")
                    f.flush()
                    os.fsync(f.fileno())
                    size += 1
        return size


def _must_keep(raw: bytes) -> bool:
    m = CLASS_AT_END.search(raw)
    if m is not None:
        return m.group(1) in KEEP_CLASSES
    try:  # not a line this module wrote: keep it if it says it holds a reading
        e = json.loads(raw)
    except ValueError:
        return False  # unreadable: a torn line, never acknowledged
    return isinstance(e, dict) and (str(e.get("class", "")).encode() in KEEP_CLASSES
                                    or "reading" in e or "point" in e)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def _lock(path: Path) -> int:
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DeadLettersLocked(f"{path} is in use by another collector; give each collector "
                                "its own [collector] dead_letters or data_dir") from None
    return fd
