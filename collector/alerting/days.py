"""Daily (24 h) limits judged on whole local days: which day is due for a judgement, and when.

QCVN 05:2023 compares a *day's* mean with its 24-hour limit. The aggregate stage writes a
day's mean while the day is still filling up (a running estimate, `provisional`); judging
that would open an alert on a day whose mean ends below the limit. So a day is judged only
once it is over:

- **by the station's own records**: it has sent a record stamped at or after the day's end
  (local midnight) plus `grace_s`. Its clock, not ours: a backlog replayed at full speed is
  judged day by day as it arrives, never on a half-replayed day;
- **or, for a station that sends nothing** (in an outage at midnight), once the collector's
  clock is past the day's end plus `grace_s` and the station has been silent for
  `silence_s`: its day is judged with what arrived.

And only once its mean has *settled*: a day whose mean changed since the previous look waits
for the next one, so records of one day still streaming in are judged together.

A judged day whose mean changes later (a record of that day arriving after its judgement: a
station back from an outage, a backlog behind newer live data) is judged again, and the
judgement says so: the revision, the mean it replaces and why (`late_records`).

Pure bookkeeping: the alert stage feeds it means, record times and the wall clock, and turns
what is due into engine observations and `daily_limit` points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DAY_S = 86400
FIRST = ("day_over", "station_silent")  # why a day is judged the first time
LATE = "late_records"  # why a judged day is judged again


@dataclass
class Day:
    """One (station, rule, local day): its latest mean (in the rule's unit) and what was
    judged of it."""

    value: float | None = None
    complete: bool = False
    changed: bool = True  # the mean changed since the last look: not settled yet
    revision: int = 0  # judgements so far (0: still provisional)
    judged_value: float | None = None
    judged_complete: bool = False

    def to_json(self) -> list[Any]:
        return [self.value, self.complete, self.changed, self.revision, self.judged_value,
                self.judged_complete]

    @classmethod
    def from_json(cls, d: list[Any]) -> Day:
        value, complete, changed, revision, judged_value, judged_complete = d
        return cls(None if value is None else float(value), bool(complete), bool(changed),
                   int(revision), None if judged_value is None else float(judged_value),
                   bool(judged_complete))


@dataclass(frozen=True)
class Due:
    """A day to judge now. `previous` is the mean of the judgement it replaces (revision > 1)."""

    station: str
    rule: str
    end: int  # the day's end: local midnight after it (the mean's time)
    value: float | None
    complete: bool
    revision: int
    reason: str
    previous: float | None = None
    previous_complete: bool = False


@dataclass
class DayBook:
    """The days of every (station, 24 h rule) still within reach of a late record."""

    grace_s: int
    keep_s: int = 3 * DAY_S  # judged days older than this behind the station's clock go
    days: dict[tuple[str, str], dict[int, Day]] = field(default_factory=dict)
    clock: dict[str, int] = field(default_factory=dict)  # station → newest record time

    def note(self, station: str, rule: str, end: int, value: float | None,
             complete: bool) -> None:
        """The day's mean as the aggregate stage now has it."""
        day = self.days.setdefault((station, rule), {}).setdefault(end, Day())
        if (value, complete) != (day.value, day.complete):
            day.value, day.complete, day.changed = value, complete, True

    def records(self, station: str, t: int) -> None:
        """The station sent a record stamped `t`."""
        if t > self.clock.get(station, 0):
            self.clock[station] = t

    def due(self, now: float, silent: dict[str, bool]) -> list[Due]:
        """The days to judge at wall time `now`, each marked judged. `silent`: stations that
        have sent nothing for the silence window."""
        out: list[Due] = []
        for (station, rule), days in self.days.items():
            clock = self.clock.get(station, 0)
            for end in sorted(days):
                day = days[end]
                if day.changed:  # still moving: look again next time
                    day.changed = False
                    continue
                deadline = end + self.grace_s
                if day.revision == 0:
                    if clock >= deadline:
                        reason = "day_over"
                    elif now >= deadline and silent.get(station, False):
                        reason = "station_silent"
                    else:
                        continue
                    out.append(Due(station, rule, end, day.value, day.complete, 1, reason))
                elif (day.value, day.complete) != (day.judged_value, day.judged_complete):
                    out.append(Due(station, rule, end, day.value, day.complete,
                                   day.revision + 1, LATE, day.judged_value,
                                   day.judged_complete))
                else:
                    continue
                day.revision += 1
                day.judged_value, day.judged_complete = day.value, day.complete
        self._forget()
        return out

    def _forget(self) -> None:
        for (station, _rule), days in self.days.items():
            floor = self.clock.get(station, 0) - self.keep_s
            for end in [e for e, d in days.items() if e < floor and d.revision]:
                del days[end]

    def state(self) -> dict[str, Any]:
        return {"grace_s": self.grace_s, "clock": dict(self.clock),
                "days": {f"{st}|{rule}": {str(end): d.to_json() for end, d in days.items()}
                         for (st, rule), days in self.days.items() if days}}

    def restore(self, d: dict[str, Any]) -> None:
        """Raises KeyError, TypeError or ValueError on a document it cannot read."""
        days: dict[tuple[str, str], dict[int, Day]] = {}
        for key, by_end in d["days"].items():
            station, _, rule = key.partition("|")
            days[(station, rule)] = {int(end): Day.from_json(v) for end, v in by_end.items()}
        self.days = days
        self.clock = {str(k): int(v) for k, v in d["clock"].items()}
