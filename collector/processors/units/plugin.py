"""Readings → canonical units: gases to µg/Nm³ (unit tag `ug/Nm3`), others unchanged.

`value`, `min` and `max` are converted; with `keep_raw` the value as the station sent it stays
in `raw` (its unit is the registry's native unit for that parameter: ppb or ppm).
"""

from __future__ import annotations

import boards
from collector.contracts import Batch
from collector.plugins import Env, Plugin, register
from collector.processors.units.convert import UnitError, factor
from collector.processors.units.options import UnitsOptions


class UnitsProcessor:
    name = "units"

    def __init__(self, registry: str = "phu-quoc", keep_raw: bool = True) -> None:
        self.keep_raw = keep_raw
        for station in boards.registry(registry).stations:  # refuse at start, not per message
            for param, unit in station.params().items():
                try:
                    factor(param, unit)
                except UnitError as e:
                    raise UnitError(f"station {station.id}: {e}") from None

    def process(self, batch: Batch) -> Batch:
        for r in batch.readings:
            # validate has matched the unit with the registry, checked convertible at start
            f = factor(r.param, r.unit)
            if f is None:
                continue
            k, unit = f
            if self.keep_raw:
                r.raw = r.value
            r.unit = unit
            r.value = None if r.value is None else r.value * k
            r.min = None if r.min is None else r.min * k
            r.max = None if r.max is None else r.max * k
        return batch


def build(opts: UnitsOptions, env: Env) -> UnitsProcessor:
    return UnitsProcessor(env.registry, opts.keep_raw)


register(Plugin("processor", "units", UnitsOptions, build))
