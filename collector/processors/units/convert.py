"""Canonical units, as pure functions: gases from ppb/ppm to µg/Nm³, particulates measured at
ambient conditions referred to 25 °C and 1 atm, everything else as sent.

QCVN 05:2023/BTNMT states air limits in µg/Nm³, Nm³ referenced to 25 °C and 760 mmHg, where
one mole of ideal gas fills 24.45 L: µg/Nm³ = ppb × M / 24.45 (M in g/mol), ppm = 1000 ppb.
A mixing ratio does not depend on temperature or pressure, so that is already at reference
conditions. A mass per volume of ambient air (PM, TSP: `ug/m3`) is not: the same air is denser
at 25 °C and 1013.25 hPa than at a 31 °C, 1006 hPa afternoon, so
C_ref = C_ambient × (T_ambient / 298.15 K) × (1013.25 hPa / P_ambient).
"""

from __future__ import annotations

from boards.param_names import base

MOLAR_VOLUME_L = 24.45  # L/mol at 25 °C and 760 mmHg
MOLAR_MASS = {"so2": 64.07, "co": 28.01, "no2": 46.01, "o3": 48.00}  # g/mol
GAS_UNIT = "ug/Nm3"  # the `unit` tag of every converted gas
PPB_PER = {"ppb": 1.0, "ppm": 1000.0}


class UnitError(ValueError):
    """A unit the collector cannot convert for that parameter."""


def factor(param: str, unit: str) -> tuple[float, str] | None:
    """(multiplier, canonical unit) for `param` sent in `unit`; None when it stays as sent.
    A second probe's channel (`so2_b`) converts as its base parameter."""
    mass = MOLAR_MASS.get(base(param))
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


AMBIENT_UNIT = "ug/m3"  # a mass concentration as an optical or beta sensor measures it
T_REF_K = 298.15
P_REF_HPA = 1013.25
# Ambient temperature and pressure outside these are a faulty THP sensor, not weather: the
# value is then referred with the standard conditions rather than a wrong factor.
TEMP_RANGE_C = (-40.0, 60.0)
PRESSURE_RANGE_HPA = (500.0, 1100.0)
REF_STATION = "station"    # referred with the station's own temperature and pressure
REF_STANDARD = "standard"  # no usable measurement: ambient taken as 25 °C, 1 atm (factor 1)


def ambient_factor(temp_c: float | None, pressure_hpa: float | None) -> tuple[float, str]:
    """(multiplier to µg at 25 °C and 1 atm, REF_STATION or REF_STANDARD) for a value in
    `ug/m3` measured at the given ambient temperature and pressure (None: not measured)."""
    if temp_c is None or pressure_hpa is None or \
            not TEMP_RANGE_C[0] <= temp_c <= TEMP_RANGE_C[1] or \
            not PRESSURE_RANGE_HPA[0] <= pressure_hpa <= PRESSURE_RANGE_HPA[1]:
        return 1.0, REF_STANDARD
    return (temp_c + 273.15) / T_REF_K * P_REF_HPA / pressure_hpa, REF_STATION
