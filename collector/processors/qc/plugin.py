"""Readings → QARTOD flag (`qc`) and failed-test bits (`qc_bits`), against the station's limits
and the recent history of each (station, param) series. Values are never changed or dropped.

The history (the last `history_size` accepted values per series, and the current run of
unchanged values for the flat-line test) is the processor's state: the pipeline saves it with
`state()` and hands it back through `restore()`, so a restart does not reset flat-line runs.
"""

from __future__ import annotations

import bisect
import logging
from typing import Any

import boards
from collector.contracts import Batch, Reading
from collector.plugins import Env, Plugin, register
from collector.processors.qc.checks import FAILING, Flat, Limits, Point, evaluate
from collector.processors.qc.limits import registry_limits
from collector.processors.qc.options import QcOptions
from collector.processors.units.convert import canonical_unit, factor

log = logging.getLogger("quantrac.collector.qc")
STATE_VERSION = 1
NO_LIMITS = Limits()


class _Series:
    __slots__ = ("history", "flat")

    def __init__(self) -> None:
        self.history: list[Point] = []
        self.flat: Flat | None = None


class QcProcessor:
    name = "qc"

    def __init__(self, registry: str = "phu-quoc", limits: str = "",
                 history_size: int = 12) -> None:
        self.history_size = history_size
        self.limits = registry_limits(registry, limits or None)
        self.native_units = {s.id: s.params() for s in boards.registry(registry).stations}
        self._series: dict[tuple[str, str], _Series] = {}

    # -- the chain -------------------------------------------------------------------------

    def process(self, batch: Batch) -> Batch:
        for r in batch.readings:
            self.check(r)
        return batch

    def check(self, r: Reading) -> None:
        lim = self.limits.get(r.station, {}).get(r.param) or NO_LIMITS
        native, canonical = self._values(r)
        series = self._series.get((r.station, r.param))
        if series is None:
            series = self._series[(r.station, r.param)] = _Series()
        r.qc, r.qc_bits, series.flat = evaluate(native, canonical, r.status, r.flags, r.time,
                                                series.history, series.flat, lim)
        if canonical is not None and not r.qc_bits & FAILING:
            self._remember(series.history, (r.time, canonical))

    def _values(self, r: Reading) -> tuple[float | None, float | None]:
        """The reading's value in the sensor's native unit and in the canonical unit, whether
        or not the units stage ran before this one."""
        if r.value is None:
            return None, None
        native_unit = self.native_units.get(r.station, {}).get(r.param, r.unit)
        if r.unit == native_unit:
            f = factor(r.param, native_unit)
            return r.value, (r.value * f[0] if f else r.value)
        if r.unit == canonical_unit(r.param, native_unit):
            if r.raw is not None:
                return r.raw, r.value
            f = factor(r.param, native_unit)
            return (r.value / f[0] if f else r.value), r.value
        return r.value, r.value  # unknown unit: validate refuses these; test what there is

    def _remember(self, history: list[Point], point: Point) -> None:
        i = bisect.bisect_left(history, (point[0], float("-inf")))
        if i < len(history) and history[i][0] == point[0]:
            history[i] = point  # the same record again (redelivery): same place, no growth
            return
        if i == 0 and len(history) >= self.history_size:
            return  # older than everything kept: a backfill the window no longer covers
        history.insert(i, point)
        del history[:-self.history_size]

    # -- state across restarts -------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        series = {}
        for (station, param), s in self._series.items():
            entry: dict[str, Any] = {"h": [list(p) for p in s.history]}
            if s.flat is not None:
                entry["f"] = [s.flat.since, s.flat.value, s.flat.last]
            series[f"{station}|{param}"] = entry
        return {"v": STATE_VERSION, "series": series}

    def restore(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
            log.warning("qc: saved state has an unknown layout; starting without history")
            return
        kept = 0
        for key, entry in (state.get("series") or {}).items():
            try:
                station, param = key.split("|", 1)
                s = _Series()
                s.history = sorted((int(t), float(x)) for t, x in entry["h"])
                s.history = s.history[-self.history_size:]
                if "f" in entry:
                    since, value, last = entry["f"]
                    s.flat = Flat(int(since), float(value), int(last))
            except (ValueError, TypeError, KeyError, AttributeError):
                log.warning("qc: skipping unreadable saved history for %r", key)
                continue
            self._series[(station, param)] = s
            kept += 1
        log.info("qc: history restored for %d series", kept)


def build(opts: QcOptions, env: Env) -> QcProcessor:
    return QcProcessor(env.registry, opts.limits, opts.history_size)


def check(opts: QcOptions, env: Env) -> None:
    from collector.processors.qc.limits import LimitsError

    try:
        registry_limits(env.registry, opts.limits or None)
    except LimitsError as e:
        raise ValueError(f"limits = {opts.limits!r}: {e}") from None


register(Plugin("processor", "qc", QcOptions, build, check))
