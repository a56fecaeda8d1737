"""Means over hours, 8-hour windows and local days, with the completeness rule, as pure functions.

A record counts toward its hour's mean when it is valid (a value, device status 00 measuring,
QC not failed or missing). An hourly mean is complete with at least `hour_fraction` of the
records the station's report interval promises; 8-hour and daily means are means of the
*complete* hourly means and are complete with `rolling_8h_hours` of 8 and `day_hours` of 24.
The thresholds are data (options of the aggregate stage); see docs/influxdb-schema.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from collector.contracts import HOUR_S, QC_FAIL, QC_MISSING
from collector.processors.aggregate.combine import Combine, arithmetic

DAY_HOURS = 24
ROLLING_HOURS = 8


@dataclass(frozen=True)
class Completeness:
    """How much of a period must be present for its mean to count (75 % by default)."""

    hour_fraction: float = 0.75
    rolling_8h_hours: int = 6
    day_hours: int = 18

    def __post_init__(self) -> None:
        if not 0 < self.hour_fraction <= 1:
            raise ValueError(f"hour_fraction {self.hour_fraction!r} is not in (0, 1]")
        if not 1 <= self.rolling_8h_hours <= ROLLING_HOURS:
            raise ValueError(f"rolling_8h_hours {self.rolling_8h_hours!r} is not 1..8")
        if not 1 <= self.day_hours <= DAY_HOURS:
            raise ValueError(f"day_hours {self.day_hours!r} is not 1..24")


@dataclass  # not frozen (a setattr call per field): several are made per record
class Mean:
    """One period's mean: `value` None when nothing valid; `n` valid parts of `expected`."""

    value: float | None
    n: int
    expected: int
    complete: bool


def valid(value: float | None, status: int, qc: int) -> bool:
    """Whether a record's value may enter a mean."""
    return value is not None and status == 0 and qc not in (QC_FAIL, QC_MISSING)


def expected_per_hour(report_s: int) -> int:
    """Records an hour should hold at this report interval (at least 1)."""
    return max(1, HOUR_S // max(1, int(report_s)))


def needed(expected: int, fraction: float) -> int:
    """Smallest count that is at least `fraction` of `expected` (9 of 12 at 75 %)."""
    return max(1, math.ceil(expected * fraction - 1e-9))


def hour_mean(values: Iterable[float | None], expected: int, rule: Completeness,
              combine: Combine = arithmetic) -> Mean:
    """Mean of one hour's records; `None` marks a record that is not valid. `combine`: how
    the parameter's values add up (sound levels as energy: combine.py)."""
    good = [v for v in values if v is not None]
    value = combine(good) if good else None
    return Mean(value, len(good), expected, len(good) >= needed(expected, rule.hour_fraction))


def mean_of_hours(hours: Sequence[Mean | None], need: int,
                  combine: Combine = arithmetic) -> Mean:
    """Mean of the complete hourly means among `hours` (one slot per hour of the period)."""
    good = [m.value for m in hours if m is not None and m.complete and m.value is not None]
    value = combine(good) if good else None
    return Mean(value, len(good), len(hours), len(good) >= need)


def rolling_8h(hours: Mapping[int, Mean], end_hour: int, rule: Completeness,
               combine: Combine = arithmetic) -> Mean:
    """The 8-hour mean of the hours starting end_hour - 7 h … end_hour (hour-start keys)."""
    slots = [hours.get(end_hour - i * HOUR_S) for i in range(ROLLING_HOURS - 1, -1, -1)]
    return mean_of_hours(slots, rule.rolling_8h_hours, combine)


def day_start(hour_start: int, tz: tzinfo) -> int:
    """UTC epoch of the local midnight that starts the day holding this hour."""
    local = datetime.fromtimestamp(hour_start, tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return int(midnight.astimezone(UTC).timestamp())


def day_hours(start: int) -> list[int]:
    """Hour starts of the local day beginning at `start` (hours ending 01:00 … 00:00)."""
    return [start + i * HOUR_S for i in range(DAY_HOURS)]


def daily(hours: Mapping[int, Mean], start: int, rule: Completeness,
          combine: Combine = arithmetic) -> Mean:
    return mean_of_hours([hours.get(h) for h in day_hours(start)], rule.day_hours, combine)
