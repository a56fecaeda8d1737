"""A recorded day of hourly values replayed as a simulator's source, on the station's clock.

    day = replay.load_day(replay.HANOI_PM25, "2017-01-22")   # 24 hourly PM2.5 means, µg/m³
    source = replay.day_source(day, start=t_midnight, clock=clock, base=signals.source(...))
    sim.sims["pm"].source = source        # PmStream: PM2.5 from the day, PM10 follows it

The files are CSV with a header `site,time_local,time_utc,<param>` and one row per hour whose
label marks the END of the hour (as the U.S. State Department files do), so a local day is
its rows labelled 01:00 … 24:00 (00:00 of the next day). Parameters the file has no column
for come from `base`. A missing hour (empty cell) is refused at load: a replay says exactly
what the sensor saw, it never invents an hour.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

HOUR_S = 3600
DATA = Path(__file__).with_name("data")
HANOI_PM25 = DATA / "hanoi-pm25-2017-01-22.csv"

Source = Callable[[str], float]


class ReplayError(ValueError):
    """A file or a day that cannot be replayed (the message names the file and the hour)."""


@dataclass(frozen=True)
class Day:
    param: str
    day: str               # the local day, yyyy-mm-dd
    hours: tuple[float, ...]  # 24 hourly means; hours[0] is 00:00-01:00 local


def load_day(path: Path, day: str) -> Day:
    """The 24 hourly values of the local day `day` (yyyy-mm-dd) in `path`."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise ReplayError(f"{path}: unreadable ({e})") from None
    if not rows or list(rows[0])[:3] != ["site", "time_local", "time_utc"] or \
            len(rows[0]) != 4:
        raise ReplayError(f"{path}: header must be site,time_local,time_utc,<param>")
    param = list(rows[0])[3]
    by_label = {r["time_local"][:16]: r[param] for r in rows}
    first = date.fromisoformat(day)
    out = []
    for h in range(1, 25):
        label = (datetime.combine(first, datetime.min.time()) + timedelta(hours=h))
        key = label.strftime("%Y-%m-%dT%H:%M")
        cell = by_label.get(key)
        if cell is None or not cell.strip():
            raise ReplayError(f"{path}: no {param} for the hour ending {key}")
        try:
            value = float(cell)
        except ValueError:
            raise ReplayError(f"{path}: {param} at {key}: {cell!r} is not a number") from None
        if value < 0:
            raise ReplayError(f"{path}: {param} at {key}: {value} is negative")
        out.append(value)
    return Day(param, day, tuple(out))


def day_source(day: Day, start: float, clock: Callable[[], float], base: Source) -> Source:
    """A source answering `day.param` with the hour of the day the clock is in (counted from
    `start`, the station's local midnight; the day repeats), anything else from `base`."""

    def read(param: str) -> float:
        if param != day.param:
            return base(param)
        return day.hours[int((clock() - start) // HOUR_S) % 24]

    return read
