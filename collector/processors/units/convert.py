"""Canonical units, as pure functions: gases from ppb/ppm to µg/Nm³, everything else as sent.

QCVN 05:2023/BTNMT states air limits in µg/Nm³, Nm³ referenced to 25 °C and 760 mmHg, where
one mole of ideal gas fills 24.45 L: µg/Nm³ = ppb × M / 24.45 (M in g/mol), ppm = 1000 ppb.
"""

from __future__ import annotations

MOLAR_VOLUME_L = 24.45  # L/mol at 25 °C and 760 mmHg
MOLAR_MASS = {"so2": 64.07, "co": 28.01, "no2": 46.01, "o3": 48.00}  # g/mol
GAS_UNIT = "ug/Nm3"  # the `unit` tag of every converted gas
PPB_PER = {"ppb": 1.0, "ppm": 1000.0}


class UnitError(ValueError):
    """A unit the collector cannot convert for that parameter."""


def factor(param: str, unit: str) -> tuple[float, str] | None:
    """(multiplier, canonical unit) for `param` sent in `unit`; None when it stays as sent."""
    mass = MOLAR_MASS.get(param)
    if mass is None or unit == GAS_UNIT:
        return None
    if unit not in PPB_PER:
        raise UnitError(f"{param}: no conversion from {unit!r} to {GAS_UNIT} "
                        f"(known: {', '.join(PPB_PER)}, {GAS_UNIT})")
    return PPB_PER[unit] * mass / MOLAR_VOLUME_L, GAS_UNIT


def canonical_unit(param: str, unit: str) -> str:
    f = factor(param, unit)
    return f[1] if f else unit


def to_canonical(param: str, unit: str, x: float | None) -> float | None:
    """`x` (sent in `unit`) in the canonical unit of `param`."""
    f = factor(param, unit)
    if f is None or x is None:
        return x
    return x * f[0]
