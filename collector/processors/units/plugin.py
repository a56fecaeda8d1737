"""Readings → canonical units: gases to µg/Nm³ (unit tag `ug/Nm3`); particulates in `ug/m3`
referred to 25 °C and 1 atm with the temperature and pressure of the same record (field `ref`);
others unchanged.

`value`, `min` and `max` are converted; with `keep_raw` the value as the station sent it stays
in `raw` (its unit is the registry's native unit for that parameter: ppb, ppm or µg/m³ at
ambient conditions).
"""

from __future__ import annotations

import boards
from collector.contracts import Batch, Reading
from collector.plugins import Env, Plugin, register
from collector.processors.units.convert import (
    AMBIENT_UNIT,
    REF_STATION,
    UnitError,
    ambient_factor,
    factor,
)
from collector.processors.units.options import UnitsOptions

AMBIENT = ("temp", "pressure")
PLAIN = {p: p for p in AMBIENT}  # a station the registry does not know


class UnitsProcessor:
    name = "units"

    def __init__(self, registry: str = "phu-quoc", keep_raw: bool = True) -> None:
        self.keep_raw = keep_raw
        # station -> its channel giving the air's temperature / pressure (a renamed THP channel,
        # temp_shelter, still refers the PM; a second probe does not take its place)
        self.ambient: dict[str, dict[str, str]] = {}
        for station in boards.registry(registry).stations:  # refuse at start, not per message
            for param, unit in station.params().items():
                try:
                    factor(param, unit)
                except UnitError as e:
                    raise UnitError(f"station {station.id}: {e}") from None
            self.ambient[station.id] = {p: b for b, p in station.chosen().items()
                                        if b in AMBIENT}

    def process(self, batch: Batch) -> Batch:
        ambient: dict[tuple[str, int], dict[str, float | None]] = {}
        for r in batch.readings:
            what = self.ambient.get(r.station, PLAIN).get(r.param)
            if what is not None and r.unit in ("degC", "hPa"):
                # a value of a sensor in error or calibration is not the air's
                ambient.setdefault((r.station, r.time), {})[what] = \
                    r.value if r.status == 0 else None
        for r in batch.readings:
            if r.unit == AMBIENT_UNIT:
                tp = ambient.get((r.station, r.time), {})
                k, r.ref = ambient_factor(tp.get("temp"), tp.get("pressure"))
                self._scale(r, k, r.unit, keep=r.ref == REF_STATION)
                continue
            # validate has matched the unit with the registry, checked convertible at start
            f = factor(r.param, r.unit)
            if f is not None:
                self._scale(r, f[0], f[1], keep=True)
        return batch

    def _scale(self, r: Reading, k: float, unit: str, keep: bool) -> None:
        if self.keep_raw and keep:
            r.raw = r.value
        r.unit = unit
        r.value = None if r.value is None else r.value * k
        r.min = None if r.min is None else r.min * k
        r.max = None if r.max is None else r.max * k


def build(opts: UnitsOptions, env: Env) -> UnitsProcessor:
    return UnitsProcessor(env.registry, opts.keep_raw)


register(Plugin("processor", "units", UnitsOptions, build))
