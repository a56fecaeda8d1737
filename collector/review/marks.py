"""The operator's review marks: a parameter flagged invalid over a time range, a day approved.

One JSON object per line in `<run_dir>/review.jsonl`, appended (fsync'd) under a lock by
`quantrac data flag|approve`, read by the running collector whenever the file changes (its
size and mtime, looked at every tick) and by the open-data writer. Marks are never rewritten:
the file is the audit trail (who, when, why).

A flag covers the records stamped after `from` up to and including `to` (record times mark
the END of their period, as for the hourly means), so `--from 10:00 --to 12:00` is the two
hours 10-11 and 11-12.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path

log = logging.getLogger("quantrac.collector.review")
FILE = "review.jsonl"
FLAG, APPROVE = "flag", "approve"
MAX_FLAG_DAYS = 366  # a longer "fault" is a typo in a date, not a fault


class MarkError(ValueError):
    """A mark that cannot be kept; the message names what is wrong."""


@dataclass(frozen=True)
class Mark:
    id: int
    type: str  # FLAG or APPROVE
    station: str
    by: str
    at: int  # when the mark was made, epoch seconds
    reason: str = ""
    param: str = ""  # FLAG
    start: int = 0  # FLAG: records after this
    end: int = 0  # FLAG: … up to and including this
    day: str = ""  # APPROVE: the local day, YYYY-MM-DD
    login: str = ""  # the OS account that ran the command (`by` may name someone else)

    def covers(self, station: str, param: str, t: int) -> bool:
        return (self.type == FLAG and self.station == station and self.param == param
                and self.start < t <= self.end)


def path(run_dir: Path | str) -> Path:
    return Path(run_dir) / FILE


def load(file: Path) -> list[Mark]:
    """Every mark in the file (none when it does not exist); a damaged line is an error
    naming the line, never skipped: a lost flag would publish data the operator refused."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return _parse(text, file)


def _parse(text: str, file: Path) -> list[Mark]:
    marks = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
            marks.append(Mark(**doc))
        except (ValueError, TypeError) as e:
            raise MarkError(f"{file}:{n}: not a review mark ({e})") from None
    return marks


def append(file: Path, mark: Mark) -> Mark:
    """Append `mark` with the next id (under an exclusive lock, fsync'd); the mark as kept.
    MarkError naming the line when the file is damaged: nothing is appended to it then (the
    collector would not read past that line)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        last = max((m.id for m in _parse(f.read(), file)), default=0)
        kept = Mark(**{**asdict(mark), "id": last + 1})
        f.seek(0, os.SEEK_END)
        f.write(json.dumps(asdict(kept), ensure_ascii=False, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return kept


def local_time(text: str, tz: tzinfo, what: str) -> int:
    """An ISO 8601 time; without an offset it is the registry's local time."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise MarkError(f"{what} {text!r} is not a time (YYYY-MM-DDTHH:MM, local time, "
                        "or with an offset)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return int(t.timestamp())


def flag(station: str, param: str, start: int, end: int, reason: str, by: str,
         now: int, tz: tzinfo | None = None, login: str = "") -> Mark:
    """A checked flag mark (its id is given by `append`); `tz`: how its messages show times."""
    def _iso(t: int) -> str:
        return datetime.fromtimestamp(t, tz).isoformat(timespec="minutes")

    if end <= start:
        raise MarkError(f"--to is not after --from ({_iso(end)} <= {_iso(start)})")
    if end - start > MAX_FLAG_DAYS * 86400:
        raise MarkError(f"the range is longer than {MAX_FLAG_DAYS} days; check the dates")
    if start > now:
        raise MarkError(f"--from {_iso(start)} is in the future")
    return Mark(0, FLAG, station, _who(by), now, _why(reason), param=param, start=start,
                end=end, login=login)


def approve(station: str, day: date, by: str, now: int, tz: tzinfo, reason: str = "",
            login: str = "") -> Mark:
    if day >= datetime.fromtimestamp(now, tz).date():  # (day + 1 overflows on 9999-12-31)
        raise MarkError(f"--date {day.isoformat()} is not over yet; a day is approved once "
                        "all its data are in")
    return Mark(0, APPROVE, station, _who(by), now, reason.strip(), day=day.isoformat(),
                login=login)


def _who(by: str) -> str:
    by = by.strip()
    if not by:
        raise MarkError("no operator name: give --by or set QUANTRAC_OPERATOR")
    return by


def _why(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise MarkError("--reason is empty: say why the data are invalid (maintenance, a "
                        "known fault, …)")
    return reason


class Review:
    """The marks as the collector and the open data see them, re-read when the file changes."""

    def __init__(self, file: Path) -> None:
        """Raises MarkError for a damaged file: the collector does not start on it."""
        self.file = file
        self._seen: tuple[int, int] | None = None
        self.error = ""  # a damage found while running: the marks known before still hold
        self.marks: list[Mark] = []
        self._approved: set[tuple[str, str]] = set()
        self._flags: dict[tuple[str, str], list[Mark]] = {}  # asked per reading: indexed
        self.refresh()

    def refresh(self) -> list[Mark]:
        """The marks added since the last look (all of them the first time)."""
        try:
            st = self.file.stat()
            seen = (st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            seen = (0, 0)
        if seen == self._seen:
            return []
        try:
            marks = load(self.file)
        except MarkError as e:
            if self._seen is None:
                raise
            self._seen, self.error = seen, str(e)
            log.error("%s; the %d marks read before still apply until it is repaired", e,
                      len(self.marks))
            return []
        self.error = ""
        known = {m.id for m in self.marks}
        new = [m for m in marks if m.id not in known]
        self.marks, self._seen = marks, seen
        self._approved = {(m.station, m.day) for m in marks if m.type == APPROVE}
        self._flags = {}
        for m in marks:
            if m.type == FLAG:
                self._flags.setdefault((m.station, m.param), []).append(m)
        return new

    def invalid(self, station: str, param: str, t: int) -> Mark | None:
        for m in self._flags.get((station, param), ()):
            if m.start < t <= m.end:
                return m
        return None

    def approved(self, station: str, day: str) -> bool:
        return (station, day) in self._approved
