"""Quality-control tests as pure functions: one reading and its series' recent history in, a
QARTOD flag and a bit per failed test out. Nothing here drops or changes a value.

Flags (QARTOD): 1 good, 3 suspect, 4 fail, 9 missing; the reading's flag is the worst of its
tests (a missing value is 9 whatever else failed). The bits, stored in `qc_bits`, are the
constants below; docs/influxdb-schema.md lists them too.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from collector.contracts import QC_FAIL, QC_GOOD, QC_MISSING, QC_SUSPECT

SENSOR_RANGE = 1 << 0     # outside the sensor model's range (catalog)            → fail
GROSS_RANGE = 1 << 1      # outside physically possible values (limits `fail`)     → fail
CLIMATOLOGY = 1 << 2      # outside what this place sees (limits `suspect`)        → suspect
SPIKE = 1 << 3            # far from the median of the last few values             → suspect
RATE_OF_CHANGE = 1 << 4   # jumped more than `max_step` since the previous value   → suspect
FLATLINE = 1 << 5         # unchanged for flat_suspect_s (suspect) / flat_fail_s (fail)
CALIBRATING = 1 << 6      # device status 01: calibration, not ambient             → fail
DEVICE_ERROR = 1 << 7     # device status 02                                        → fail
INCOMPLETE = 1 << 8       # fewer than 75 % of the period's samples (station flag 2) → suspect
MISSING = 1 << 9          # no value (no valid sample in the period)                → missing

BIT_NAMES = {SENSOR_RANGE: "sensor_range", GROSS_RANGE: "gross_range",
             CLIMATOLOGY: "climatology", SPIKE: "spike", RATE_OF_CHANGE: "rate_of_change",
             FLATLINE: "flatline", CALIBRATING: "calibrating", DEVICE_ERROR: "device_error",
             INCOMPLETE: "incomplete", MISSING: "missing"}
FAILING = SENSOR_RANGE | GROSS_RANGE | CALIBRATING | DEVICE_ERROR
STATION_FLAG_INCOMPLETE = 2  # protocol.md: fewer than 75 % of the expected samples were valid
SPIKE_MIN_HISTORY = 3

Point = tuple[int, float]  # (record time, value in canonical units)


@dataclass(frozen=True)
class Limits:
    """One station's limits for one parameter. `sensor` is in the station's native unit (the
    catalog's); every other number is in the canonical unit. None: that test is not run."""

    sensor: tuple[float, float] | None = None
    fail: tuple[float, float] | None = None
    suspect: tuple[float, float] | None = None
    spike: float | None = None
    spike_window: int = 5
    max_step: float | None = None
    flat_tolerance: float = 0.0
    flat_floor: float | None = None
    flat_suspect_s: int | None = None
    flat_fail_s: int | None = None
    max_gap_s: int = 3600


@dataclass  # not frozen (a setattr call per field): next_flat makes one per reading
class Flat:
    """The series' current run of unchanged values: since when, at what value, last time."""

    since: int
    value: float
    last: int


def outside(x: float, bounds: tuple[float, float] | None) -> bool:
    return bounds is not None and not bounds[0] <= x <= bounds[1]


def range_bits(native: float, canonical: float, lim: Limits) -> int:
    bits = SENSOR_RANGE if outside(native, lim.sensor) else 0
    if outside(canonical, lim.fail):
        bits |= GROSS_RANGE
    if outside(canonical, lim.suspect):
        bits |= CLIMATOLOGY
    return bits


def status_bits(status: int, station_flags: int) -> int:
    bits = CALIBRATING if status == 1 else DEVICE_ERROR if status == 2 else 0
    if station_flags & STATION_FLAG_INCOMPLETE:
        bits |= INCOMPLETE
    return bits


def recent(history: Sequence[Point], t: int, max_gap_s: int) -> Sequence[Point]:
    """The history points before `t` that form an unbroken run up to it (no gap between
    consecutive points, nor between the last one and `t`, longer than max_gap_s)."""
    end = bisect_left(history, (t, float("-inf")))
    start, nxt = end, t
    while start:  # walk back by index: no copy of the whole history per reading
        before = history[start - 1][0]
        if nxt - before > max_gap_s:
            break
        start -= 1
        nxt = before
    return history[start:end]


def spike_bit(x: float, before: Sequence[Point], lim: Limits) -> int:
    if lim.spike is None or len(before) < SPIKE_MIN_HISTORY:
        return 0
    values = sorted([v for _, v in before[-lim.spike_window:]])  # statistics.median, unchecked
    half = len(values) // 2
    base = values[half] if len(values) % 2 else (values[half - 1] + values[half]) / 2
    return SPIKE if abs(x - base) > lim.spike else 0


def step_bit(x: float, before: Sequence[Point], lim: Limits) -> int:
    if lim.max_step is None or not before:
        return 0
    return RATE_OF_CHANGE if abs(x - before[-1][1]) > lim.max_step else 0


def same(a: float, b: float, lim: Limits) -> bool:
    return abs(a - b) <= lim.flat_tolerance


def flat_duration(x: float, t: int, before: Sequence[Point], lim: Limits) -> int:
    """Seconds the value has stayed within flat_tolerance of `x`, from the history alone."""
    since = t
    for pt, v in reversed(before):
        if not same(v, x, lim):
            break
        since = pt
    return t - since


def next_flat(flat: Flat | None, x: float, t: int, lim: Limits) -> Flat:
    """The run state after the series' newest value `x` at `t` (t >= flat.last)."""
    if flat is not None and same(x, flat.value, lim) and t - flat.last <= lim.max_gap_s:
        return Flat(flat.since, flat.value, t)
    return Flat(t, x, t)


def flat_bits(x: float, duration: int, lim: Limits) -> tuple[int, int]:
    """(bits, flag) for a run of `duration` seconds at value `x`."""
    if lim.flat_floor is not None and x <= lim.flat_floor:
        return 0, QC_GOOD  # at or below the detection limit a steady zero is normal
    if lim.flat_fail_s is not None and duration >= lim.flat_fail_s:
        return FLATLINE, QC_FAIL
    if lim.flat_suspect_s is not None and duration >= lim.flat_suspect_s:
        return FLATLINE, QC_SUSPECT
    return 0, QC_GOOD


def flag_of(bits: int, extra: int = QC_GOOD) -> int:
    """The worst flag of the failed tests; `extra` adds one decided elsewhere (flatline)."""
    if bits & MISSING:
        return QC_MISSING
    if bits & FAILING:
        return QC_FAIL
    if bits & ~FLATLINE:
        return max(QC_SUSPECT, extra)
    return extra


def names(bits: int) -> list[str]:
    """The test names set in `bits`, lowest bit first (for logs and docs)."""
    return [name for bit, name in BIT_NAMES.items() if bits & bit]


def evaluate(native: float | None, canonical: float | None, status: int, station_flags: int,
             t: int, history: Sequence[Point], flat: Flat | None,
             lim: Limits) -> tuple[int, int, Flat | None]:
    """(flag, bits, flat run after this reading) for one reading.

    `history`: the series' recent points, sorted by time. `flat`: the run state of the newest
    record so far. A late record (older than the newest) is checked against the history before
    its own time and leaves the run state alone; the newest record delivered again gets the
    same answer as the first time, so redelivery never changes a flag.
    """
    bits = status_bits(status, station_flags)
    if native is None or canonical is None:
        return QC_MISSING, bits | MISSING, flat
    bits |= range_bits(native, canonical, lim)
    before = recent(history, t, lim.max_gap_s)
    bits |= spike_bit(canonical, before, lim) | step_bit(canonical, before, lim)
    if flat is not None and t < flat.last:
        run, after = flat_duration(canonical, t, before, lim), flat
    elif flat is not None and t == flat.last:
        run, after = (t - flat.since if same(canonical, flat.value, lim) else 0), flat
    else:
        after = next_flat(flat, canonical, t, lim)
        run = t - after.since
    flat_bit, flat_flag = flat_bits(canonical, run, lim)
    bits |= flat_bit
    return flag_of(bits, flat_flag), bits, after
