"""An hourly series on a continuous UTC grid: the one shape the models, the baselines and the
backtest read, whether it comes from a CSV file or from InfluxDB.

Hour `i` of the grid is `start + i` hours (UTC, whole hours); a missing hour is NaN.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

LOCAL_OFFSET_H = 7  # Vietnam, UTC+07:00, no daylight saving time
MAX_VALUE = 10_000.0  # µg/m³; above is a unit or decoding error, not air


class SeriesError(ValueError):
    """The input cannot be read as an hourly series; the message names the file, line and why."""


@dataclass(frozen=True)
class Series:
    start: datetime  # UTC, whole hour: the time of values[0]
    values: np.ndarray  # float64, NaN = missing

    def __len__(self) -> int:
        return len(self.values)

    def time(self, i: int) -> datetime:
        return self.start + timedelta(hours=int(i))

    def index_of(self, t: datetime) -> int:
        return int((t - self.start).total_seconds() // 3600)

    @property
    def hour0(self) -> int:
        """Hours since the epoch of values[0]: calendar features need absolute hours."""
        return int(self.start.timestamp() // 3600)


def _utc(text: str, where: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SeriesError(f"{where}: time_utc {text!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise SeriesError(f"{where}: time_utc {text!r} has no offset (write Z for UTC)")
    t = t.astimezone(UTC)
    if t.minute or t.second or t.microsecond:
        raise SeriesError(f"{where}: time_utc {text!r} is not on a whole hour")
    return t


def _value(text: str, where: str, param: str) -> float:
    if text.strip() == "":
        return math.nan
    try:
        v = float(text)
    except ValueError:
        raise SeriesError(f"{where}: {param} {text!r} is not a number") from None
    if not math.isfinite(v) or v < 0 or v > MAX_VALUE:
        raise SeriesError(f"{where}: {param} {text!r} is outside 0…{MAX_VALUE:g}")
    return v


def read_csv(path: str | Path, param: str) -> Series:
    """Read `time_utc` and `param` of an hourly CSV (the format of shared/data/air/).

    Rows must be in time order, one per hour at most; hours without a row are missing, as are
    empty cells. Anything else stops the read with the line and the reason.
    """
    path = Path(path)
    try:
        f = path.open(newline="", encoding="utf-8")
    except OSError as e:
        raise SeriesError(f"{path}: cannot open ({e.strerror})") from None
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise SeriesError(f"{path}: empty file, expected a header row") from None
        except (csv.Error, UnicodeDecodeError) as e:
            raise SeriesError(f"{path}:1: not a UTF-8 CSV ({e})") from None
        header = [h.strip().lstrip("\ufeff") for h in header]
        for col in ("time_utc", param):
            if col not in header:
                raise SeriesError(f"{path}:1: no column {col!r} (columns: {', '.join(header)})")
        ti, vi = header.index("time_utc"), header.index(param)
        times: list[datetime] = []
        values: list[float] = []
        try:
            for row in reader:
                where = f"{path}:{reader.line_num}"
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise SeriesError(f"{where}: {len(row)} cells, the header has {len(header)}")
                t = _utc(row[ti], where)
                if times and t <= times[-1]:
                    raise SeriesError(f"{where}: time_utc {row[ti]} is not after the previous "
                                      f"row's {times[-1]:%Y-%m-%dT%H:%M}Z (rows must be in "
                                      "time order, one per hour)")
                times.append(t)
                values.append(_value(row[vi], where, param))
        except (csv.Error, UnicodeDecodeError) as e:
            raise SeriesError(f"{path}:{reader.line_num}: not a UTF-8 CSV ({e})") from None
    if not times:
        raise SeriesError(f"{path}: no data rows")
    start = times[0]
    grid = np.full(int((times[-1] - start).total_seconds() // 3600) + 1, np.nan)
    for t, v in zip(times, values, strict=True):
        grid[int((t - start).total_seconds() // 3600)] = v
    return Series(start, grid)
