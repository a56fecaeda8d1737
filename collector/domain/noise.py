"""Noise levels as acousticians combine them: energy means of dB, never arithmetic ones.

A sound level L in dB stands for a power proportional to 10^(L/10), so the equivalent level of
several levels (LAeq) is 10·log10 of the (duration-weighted) mean of those powers: 50, 60 and
70 dB for equal times make 65.7 dB, not 60. The same holds for a period's LAeq from its hourly
LAeq values (QCVN 26 judges a day or night period by it). Statistical levels L10, L50, L90 are
the levels exceeded 10, 50 and 90 % of the time, from the samples or from the fixed-resolution
histogram a station will send (HIST_FLOOR_DB, HIST_RESOLUTION_DB, HIST_BINS).

Every function refuses bad input (nothing, a non-number, NaN or infinity, a level outside
MIN_DB..MAX_DB) with a NoiseError naming the offending value and its position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_DB = 0.0
MAX_DB = 200.0  # beyond anything a sound-level meter outdoors reads: a wrong unit or a fault
# The histogram a station keeps per report period: 0.5 dB bins from 20 dB (below any outdoor
# class-2 meter's floor) to 140 dB (the top of their range); the first and last bins also
# hold what falls below or above. 240 counters: 960 bytes as 32-bit counts.
HIST_FLOOR_DB = 20.0
HIST_RESOLUTION_DB = 0.5
HIST_BINS = 240
STATISTICAL = (("l10", 10), ("l50", 50), ("l90", 90))


class NoiseError(ValueError):
    """Levels, durations, a histogram or an hour that cannot be used, and why."""


def _levels(levels: Sequence[float], what: str = "level") -> list[float]:
    if isinstance(levels, str | bytes) or not isinstance(levels, Sequence):
        raise NoiseError(f"{what}s must be a list of numbers in dB, got {type(levels).__name__}")
    if not levels:
        raise NoiseError(f"no {what}s: at least one is needed")
    out = []
    for i, x in enumerate(levels):
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise NoiseError(f"{what} {i} ({x!r}) is not a number in dB")
        if not math.isfinite(x):
            raise NoiseError(f"{what} {i} ({x!r}) is not a finite number")
        if not MIN_DB <= x <= MAX_DB:
            raise NoiseError(f"{what} {i} ({x!r} dB) is outside {MIN_DB:g}..{MAX_DB:g} dB")
        out.append(float(x))
    return out


def _weights(durations: Sequence[float] | None, n: int) -> list[float]:
    if durations is None:
        return [1.0] * n
    if len(durations) != n:
        raise NoiseError(f"{len(durations)} durations for {n} levels: give one per level")
    for i, d in enumerate(durations):
        if isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d) \
                or d < 0:
            raise NoiseError(f"duration {i} ({d!r}) is not a finite number >= 0")
    if not math.fsum(durations) > 0:
        raise NoiseError("the durations add up to nothing: no time to average over")
    return [float(d) for d in durations]


def laeq(levels: Sequence[float], durations: Sequence[float] | None = None) -> float:
    """The energy mean 10·log10(Σ t_i·10^(L_i/10) / Σ t_i); equal times without durations."""
    lv = _levels(levels)
    w = _weights(durations, len(lv))
    # relative to the loudest level, so 10^(L/10) never overflows or loses the quiet ones
    top = max(lv)
    power = math.fsum(t * 10 ** ((x - top) / 10) for x, t in zip(lv, w, strict=True))
    return top + 10 * math.log10(power / math.fsum(w))


def period_laeq(hourly: Sequence[float]) -> float:
    """A regulation period's LAeq from its hourly LAeq values: their energy mean (each hour
    weighs the same), never their arithmetic mean."""
    return laeq(_levels(hourly, "hourly LAeq"))


def lamax(levels: Sequence[float]) -> float:
    return max(_levels(levels))


def lamin(levels: Sequence[float]) -> float:
    return min(_levels(levels))


def exceeded(levels: Sequence[float], percent: float) -> float:
    """L_N: the level exceeded N % of the time, as the nearest-rank (100 − N)th percentile
    of the samples (equal times): L10 of 1..100 dB is 90, L90 is 10."""
    if isinstance(percent, bool) or not isinstance(percent, int | float) \
            or not 0 < percent < 100:
        raise NoiseError(f"{percent!r} is not a percentage between 0 and 100 (exclusive)")
    lv = sorted(_levels(levels))
    rank = max(1, math.ceil((100 - percent) / 100 * len(lv)))
    return lv[rank - 1]


def statistical(levels: Sequence[float]) -> dict[str, float]:
    """{"l10", "l50", "l90"} of the samples."""
    return {name: exceeded(levels, n) for name, n in STATISTICAL}


def histogram(levels: Sequence[float]) -> list[int]:
    """The station's histogram of `levels` (HIST_BINS counts; see the module's note)."""
    counts = [0] * HIST_BINS
    for x in _levels(levels):
        i = math.floor((x - HIST_FLOOR_DB) / HIST_RESOLUTION_DB)
        counts[min(max(i, 0), HIST_BINS - 1)] += 1
    return counts


def statistical_from_histogram(counts: Sequence[int]) -> dict[str, float]:
    """{"l10", "l50", "l90"} from a station's histogram, each as its bin's lower edge: at most
    one resolution step (0.5 dB) below the level the samples give."""
    if isinstance(counts, str | bytes) or not isinstance(counts, Sequence) \
            or len(counts) != HIST_BINS:
        raise NoiseError(f"a histogram is a list of {HIST_BINS} counts "
                         f"({HIST_RESOLUTION_DB:g} dB bins from {HIST_FLOOR_DB:g} dB)")
    for i, c in enumerate(counts):
        if isinstance(c, bool) or not isinstance(c, int) or c < 0:
            raise NoiseError(f"histogram bin {i} ({c!r}) is not a count >= 0")
    total = sum(counts)
    if not total:
        raise NoiseError("the histogram is empty: no samples")
    out = {}
    for name, n in STATISTICAL:
        rank = max(1, math.ceil((100 - n) / 100 * total))
        seen = 0
        for i, c in enumerate(counts):
            seen += c
            if seen >= rank:
                out[name] = HIST_FLOOR_DB + i * HIST_RESOLUTION_DB
                break
    return out


def summary(levels: Sequence[float]) -> dict[str, float]:
    """{"laeq", "lamax", "lamin", "l10", "l50", "l90"} of equally spaced samples."""
    lv = _levels(levels)
    return {"laeq": laeq(lv), "lamax": max(lv), "lamin": min(lv), **statistical(lv)}


# -- the regulations' periods of the day -------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A regulation's period of the day, from `start` up to (not including) `end`, in local
    clock hours; it may run over midnight (21 → 6). None: the clock hours are not known."""

    name: str
    start: int | None
    end: int | None


def _hour(h: object, what: str) -> int:
    if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23:
        raise NoiseError(f"{what} {h!r} is not a whole hour 0..23")
    return h


def _contains(p: Period, hour: int) -> bool:
    assert p.start is not None and p.end is not None
    if p.start < p.end:
        return p.start <= hour < p.end
    return hour >= p.start or hour < p.end


def check_periods(periods: Sequence[Period]) -> None:
    """Known clock hours must cover each hour of the day exactly once."""
    if not periods:
        raise NoiseError("no periods")
    for p in periods:
        for h, edge in ((p.start, "start"), (p.end, "end")):
            if h is not None:
                _hour(h, f"period {p.name!r} {edge}")
        if (p.start is None) != (p.end is None):
            raise NoiseError(f"period {p.name!r}: give both clock hours or neither")
        if p.start is not None and p.start == p.end:
            raise NoiseError(f"period {p.name!r} starts and ends at {p.start}: it is empty")
    if any(p.start is None for p in periods):
        return
    for hour in range(24):
        owners = [p.name for p in periods if _contains(p, hour)]
        if len(owners) != 1:
            raise NoiseError(f"hour {hour} falls in {len(owners)} periods {owners}: "
                             "the periods must cover the day once")


def period_of(hour: int, periods: Sequence[Period]) -> str:
    """The name of the period local clock hour `hour` (0..23) falls in. Refused where the
    regulation's clock hours are not known: an hour is never guessed into a period."""
    h = _hour(hour, "hour")
    check_periods(periods)
    unknown = [p.name for p in periods if p.start is None]
    if unknown:
        raise NoiseError(f"the clock hours of {', '.join(unknown)} are not found in the "
                         "regulation's text at hand: no hour can be placed in a period")
    return next(p.name for p in periods if _contains(p, h))
