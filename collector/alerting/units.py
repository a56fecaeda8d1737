"""A value in the unit a rule's limit is in: the one unit conversion alerts need."""

from __future__ import annotations

from collector.processors.units.convert import GAS_UNIT, UnitError, factor

# Particulate sensors report µg/m³ at ambient conditions; QCVN 05:2023 states every limit in
# µg/Nm³. Stations do not measure what a normalisation would need, so, as is common practice
# for particulate monitors, the two are taken as equal.
SAME = {frozenset(("ug/m3", "ug/Nm3"))}


def to_unit(param: str, value: float, unit: str, want: str) -> float | None:
    """`value` (in `unit`) in `want`; None when there is no conversion between them."""
    if unit == want or frozenset((unit, want)) in SAME:
        return value
    if want != GAS_UNIT:
        return None
    try:
        f = factor(param, unit)
    except UnitError:
        return None
    return None if f is None else value * f[0]
