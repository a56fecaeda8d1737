"""VN_AQI (Decision 1459/QĐ-TCMT): sub-indices, NowCast, hourly and daily AQI, bands.

Pure functions over hourly means in µg/m³. The breakpoints, bands and the project's own
choices (completeness, tie order) are data in `tables/vn_aqi_1459.json`, so a province can
correct them without a release. Hour lists are given oldest first; the last element is the
current hour (hourly AQI) or the hour ending 00:00 (daily AQI). `None` marks a missing hour.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE_PATH = Path(__file__).resolve().parent / "tables" / "vn_aqi_1459.json"
PARAMS = ("so2", "co", "no2", "o3", "pm10", "pm2_5")
GASES = ("so2", "co", "no2")
PM = ("pm10", "pm2_5")
TABLE_KEYS = ("o3_1h", "o3_8h", "co", "so2", "no2", "pm10", "pm2_5")
NOWCAST_HOURS = 12
DAY_HOURS = 24
ROLLING_HOURS = 8

Hours = Sequence[float | None]


class AqiTableError(ValueError):
    """The VN_AQI table file is missing a key or holds a value the maths cannot use."""


@dataclass(frozen=True)
class Band:
    key: str
    max: int
    vi: str
    en: str
    rgb: tuple[int, int, int]

    @property
    def hex(self) -> str:
        """The official colour as a web page or a dashboard writes it (#rrggbb)."""
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


def band_floors(table: AqiTable) -> list[tuple[int, Band]]:
    """Each band with its lowest index: one above the previous band's maximum (0 first)."""
    out, lower = [], 0
    for b in table.bands:
        out.append((lower, b))
        lower = b.max + 1
    return out


@dataclass(frozen=True)
class AqiTable:
    index: tuple[float, ...]
    breakpoints: dict[str, tuple[float, ...]]
    bands: tuple[Band, ...]
    pm_24h_min_hours: int
    rolling_8h_min_hours: int
    tie_order: tuple[str, ...]
    source: str
    confidence: str


@dataclass(frozen=True)
class AqiResult:
    aqi: int | None
    dominant: str | None
    sub: dict[str, int]


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise AqiTableError(f"{where}: {msg}")


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _increasing(xs: object) -> bool:
    return (isinstance(xs, list) and len(xs) >= 2 and all(_number(x) for x in xs)
            and all(a < b for a, b in zip(xs, xs[1:], strict=False)))


def parse_table(doc: dict, where: str = "vn_aqi_1459.json") -> AqiTable:
    """Check a VN_AQI table document and freeze it; errors name the key."""
    index = doc.get("index")
    _need(_increasing(index) and index[0] == 0, f"{where}: index",
          f"{index!r} is not an increasing list starting at 0")
    bps = doc.get("breakpoints", {})
    for key in TABLE_KEYS:
        bp = bps.get(key)
        _need(_increasing(bp) and bp[0] == 0 and len(bp) <= len(index),
              f"{where}: breakpoints.{key}",
              f"{bp!r} is not an increasing list from 0 with at most {len(index)} values")
    bands = []
    for i, b in enumerate(doc.get("bands", [])):
        rgb = b.get("rgb")
        _need(isinstance(rgb, list) and len(rgb) == 3
              and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb),
              f"{where}: bands[{i}].rgb", f"{rgb!r} is not [r, g, b] in 0..255")
        _need(all(isinstance(b.get(k), str) for k in ("key", "vi", "en"))
              and isinstance(b.get("max"), int), f"{where}: bands[{i}]",
              "needs key, vi, en (text) and max (integer)")
        bands.append(Band(b["key"], b["max"], b["vi"], b["en"], tuple(rgb)))
    _need(_increasing([b.max for b in bands]) and bands[-1].max == index[-1],
          f"{where}: bands", f"maxima must increase and end at {index[-1]}")
    choices = doc.get("choices", {})
    pm_min = choices.get("pm_24h_min_hours")
    roll_min = choices.get("rolling_8h_min_hours")
    _need(isinstance(pm_min, int) and 1 <= pm_min <= DAY_HOURS,
          f"{where}: choices.pm_24h_min_hours", f"{pm_min!r} is not 1..{DAY_HOURS}")
    _need(isinstance(roll_min, int) and 1 <= roll_min <= ROLLING_HOURS,
          f"{where}: choices.rolling_8h_min_hours", f"{roll_min!r} is not 1..{ROLLING_HOURS}")
    ties = choices.get("dominant_tie_order")
    _need(isinstance(ties, list) and sorted(ties) == sorted(PARAMS),
          f"{where}: choices.dominant_tie_order", f"{ties!r} must list each of {PARAMS}")
    return AqiTable(index=tuple(index), breakpoints={k: tuple(bps[k]) for k in TABLE_KEYS},
                    bands=tuple(bands), pm_24h_min_hours=pm_min, rolling_8h_min_hours=roll_min,
                    tie_order=tuple(ties), source=doc.get("source", ""),
                    confidence=doc.get("confidence", ""))


@cache
def default_table() -> AqiTable:
    """The table shipped with the collector, read once."""
    try:
        doc = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise AqiTableError(f"{TABLE_PATH.name}: cannot read ({e})") from None
    return parse_table(doc, TABLE_PATH.name)


def round_half_up(x: float) -> int:
    """Round .5 up, as the decision does (Python's round() rounds half to even)."""
    # round(x, 6) first, so 50.49999999999999 from float noise counts as the 50.5 it is
    return math.floor(round(x, 6) + 0.5)


def _check_concentration(name: str, c: object) -> float | None:
    if c is None:
        return None
    if not _number(c):
        raise ValueError(f"{name}: {c!r} is not a number")
    if c < 0:
        raise ValueError(f"{name}: {c!r} is negative")
    return float(c)


def sub_index(param: str, concentration: float | None,
              table: AqiTable | None = None) -> float | None:
    """The sub-index of one concentration (µg/m³) by linear interpolation in its bracket.

    `param` is a table key: so2, co, no2, o3_1h, o3_8h, pm10, pm2_5. Above the last
    breakpoint of a full table the sub-index is capped at 500 (the decision stops there);
    a table that ends early (O3 8-h ends at 400 µg/m³ = 300) gives None beyond its end,
    because the decision then uses the 1-h value instead.
    """
    t = table or default_table()
    if param not in t.breakpoints:
        raise ValueError(f"{param!r} is not one of {', '.join(TABLE_KEYS)}")
    c = _check_concentration(param, concentration)
    if c is None:
        return None
    bp = t.breakpoints[param]
    if c > bp[-1]:
        return t.index[-1] if len(bp) == len(t.index) else None
    i = min(bisect_right(bp, c) - 1, len(bp) - 2)
    lo, hi = bp[i], bp[i + 1]
    # multiply before dividing so that C = BP_hi gives I_hi exactly
    return (t.index[i + 1] - t.index[i]) * (c - lo) / (hi - lo) + t.index[i]


def _last(hours: Hours, n: int) -> list[float | None]:
    """The last n hours, oldest first, padded with missing hours at the old end."""
    tail = list(hours)[-n:] if n else []
    return [None] * (n - len(tail)) + tail


def nowcast(hourly: Hours) -> float | None:
    """NowCast of the last 12 hourly means (oldest first; the last one is the current hour c1).

    w* = Cmin/Cmax over the hours present, w = max(w*, 1/2), NowCast = Σ w^(i-1)·c_i / Σ w^(i-1)
    with missing hours weighted 0. None unless at least 2 of c1, c2, c3 exist.
    """
    recent = _last(hourly, NOWCAST_HOURS)[::-1]  # recent[0] is c1
    recent = [_check_concentration(f"hour c{i + 1}", c) for i, c in enumerate(recent)]
    if sum(c is not None for c in recent[:3]) < 2:
        return None
    present = [(i, c) for i, c in enumerate(recent) if c is not None]
    cmax = max(c for _, c in present)
    if cmax == 0:
        return 0.0
    w = max(min(c for _, c in present) / cmax, 0.5)
    return sum(w**i * c for i, c in present) / sum(w**i for i, _ in present)


def check_means(means: Mapping[str, Hours]) -> None:
    """Raise ValueError naming the parameter and hour of the first bad input."""
    if not isinstance(means, Mapping):
        raise ValueError(f"expected {{param: [hourly means]}}, got {type(means).__name__}")
    for param, hours in means.items():
        if param not in PARAMS:
            raise ValueError(f"{param!r} is not a VN_AQI parameter ({', '.join(PARAMS)})")
        if isinstance(hours, str | bytes) or not isinstance(hours, Sequence):
            raise ValueError(f"{param}: expected a list of hourly means, got {hours!r}")
        for i, c in enumerate(hours):
            _check_concentration(f"{param}[{i}]", c)


def _result(subs: dict[str, float], table: AqiTable) -> AqiResult:
    rounded = {p: round_half_up(subs[p]) for p in PARAMS if p in subs}
    if not any(p in subs for p in PM):
        return AqiResult(None, None, rounded)
    top = max(subs.values())
    dominant = next(p for p in table.tie_order if subs.get(p) == top)
    return AqiResult(round_half_up(top), dominant, rounded)


def hourly_aqi(means: Mapping[str, Hours], table: AqiTable | None = None) -> AqiResult:
    """Hourly VN_AQI: gases from the current 1-h mean, PM from the NowCast of the last 12 h."""
    t = table or default_table()
    check_means(means)
    subs: dict[str, float | None] = {}
    for p in GASES:
        subs[p] = sub_index(p, _last(means.get(p, ()), 1)[0], t)
    subs["o3"] = sub_index("o3_1h", _last(means.get("o3", ()), 1)[0], t)
    for p in PM:
        subs[p] = sub_index(p, nowcast(means.get(p, ())), t)
    return _result({p: s for p, s in subs.items() if s is not None}, t)


def _present(hours: Sequence[float | None]) -> list[float]:
    return [c for c in hours if c is not None]


def rolling_8h_means(hours: Hours, min_hours: int) -> list[float | None]:
    """The 24 rolling 8-h means ending at each hour of the day (7 earlier hours may lead)."""
    series = _last(hours, DAY_HOURS + ROLLING_HOURS - 1)
    out: list[float | None] = []
    for end in range(ROLLING_HOURS - 1, len(series)):
        window = _present(series[end - ROLLING_HOURS + 1:end + 1])
        out.append(sum(window) / len(window) if len(window) >= min_hours else None)
    return out


def daily_aqi(means: Mapping[str, Hours], table: AqiTable | None = None) -> AqiResult:
    """Daily VN_AQI over the last 24 hourly means (hours ending 01:00 … 00:00 local).

    PM: the 24-h mean, only with enough valid hours (choices.pm_24h_min_hours). SO2, NO2, CO:
    the day's highest 1-h mean of the hours present. O3: the larger of the 1-h sub-index of
    the highest 1-h mean and the 8-h sub-index of the highest rolling 8-h mean (skipped above
    the 8-h table's end).
    """
    t = table or default_table()
    check_means(means)
    subs: dict[str, float | None] = {}
    for p in PM:
        day = _present(_last(means.get(p, ()), DAY_HOURS))
        mean = sum(day) / len(day) if len(day) >= t.pm_24h_min_hours else None
        subs[p] = sub_index(p, mean, t)
    for p in GASES:
        day = _present(_last(means.get(p, ()), DAY_HOURS))
        subs[p] = sub_index(p, max(day), t) if day else None
    o3 = means.get("o3", ())
    day = _present(_last(o3, DAY_HOURS))
    rolling = _present(rolling_8h_means(o3, t.rolling_8h_min_hours))
    o3_subs = _present([sub_index("o3_1h", max(day), t) if day else None,
                        sub_index("o3_8h", max(rolling), t) if rolling else None])
    subs["o3"] = max(o3_subs) if o3_subs else None
    return _result({p: s for p, s in subs.items() if s is not None}, t)


def band(aqi: float, table: AqiTable | None = None) -> tuple[str, str, str, tuple[int, int, int]]:
    """(key, Vietnamese label, English label, (r, g, b)) of an AQI value; above 500 is hazardous."""
    t = table or default_table()
    if not _number(aqi) or aqi < 0:
        raise ValueError(f"AQI {aqi!r} is not a number >= 0")
    value = round_half_up(aqi)
    b = next((b for b in t.bands if value <= b.max), t.bands[-1])
    return b.key, b.vi, b.en, b.rgb
