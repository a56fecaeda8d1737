"""Canonical units: gases from ppb/ppm to µg/Nm³ at 25 °C and 760 mmHg (QCVN 05:2023)."""

from __future__ import annotations

import pytest

from collector.contracts import Batch, Reading
from collector.processors.units.convert import UnitError, canonical_unit, factor, to_canonical
from collector.processors.units.plugin import UnitsProcessor


@pytest.mark.parametrize("param, unit, x, want", [
    ("so2", "ppb", 100.0, 262.04),   # 100 × 64.07 / 24.45
    ("no2", "ppb", 100.0, 188.18),
    ("o3", "ppb", 100.0, 196.32),
    ("co", "ppm", 1.0, 1145.6),      # 1000 ppb × 28.01 / 24.45
    ("co", "ppb", 1000.0, 1145.6),
])
def test_gas_conversions(param, unit, x, want):
    assert to_canonical(param, unit, x) == pytest.approx(want, abs=0.01)
    assert canonical_unit(param, unit) == "ug/Nm3"


@pytest.mark.parametrize("param, unit", [("pm10", "ug/m3"), ("tsp", "ug/m3"), ("ph", "pH"),
                                         ("temp", "degC"), ("do", "mg/L"), ("so2", "ug/Nm3")])
def test_other_parameters_keep_their_unit(param, unit):
    assert factor(param, unit) is None and to_canonical(param, unit, 3.5) == 3.5
    assert canonical_unit(param, unit) == unit


def test_a_gas_in_an_unconvertible_unit_is_named():
    with pytest.raises(UnitError, match=r"so2: no conversion from 'mg/m3' to ug/Nm3"):
        factor("so2", "mg/m3")


def reading(param: str, unit: str, value: float | None, **kw) -> Reading:
    return Reading(**{"station": "pq-air-01", "kind": "air", "param": param, "unit": unit,
                      "time": 1763755200, "value": value, "status": 0, **kw})


def test_the_processor_converts_value_min_and_max_and_keeps_the_raw_value():
    batch = Batch([], readings=[reading("so2", "ppb", 10.0, min=5.0, max=20.0),
                                reading("co", "ppm", None, status=2),
                                reading("pm10", "ug/m3", 35.1, min=30.0)])
    so2, co, pm10 = UnitsProcessor().process(batch).readings
    assert (so2.unit, so2.raw) == ("ug/Nm3", 10.0)
    assert (so2.value, so2.min, so2.max) == pytest.approx((26.204, 13.102, 52.408), abs=1e-3)
    assert (co.unit, co.value, co.raw) == ("ug/Nm3", None, None)
    assert (pm10.unit, pm10.value, pm10.min, pm10.raw) == ("ug/m3", 35.1, 30.0, None)


def test_without_keep_raw_no_raw_field():
    (so2,) = UnitsProcessor(keep_raw=False).process(
        Batch([], readings=[reading("so2", "ppb", 10.0)])).readings
    assert so2.raw is None and so2.unit == "ug/Nm3"


# -- particulates: µg/m³ at ambient conditions, referred to 25 °C and 1 atm ----------------------

T = 1763755200
HOT_AFTERNOON = (273.15 + 31.0) / 298.15 * 1013.25 / 1006.0  # 1.02695


def test_particulates_are_referred_with_the_records_own_temperature_and_pressure():
    batch = Batch([], readings=[reading("pm2_5", "ug/m3", 40.0, min=30.0, max=50.0),
                                reading("temp", "degC", 31.0), reading("pressure", "hPa", 1006.0),
                                reading("tsp", "ug/m3", 100.0), reading("so2", "ppb", 10.0)])
    pm, temp, pressure, tsp, so2 = UnitsProcessor().process(batch).readings
    assert (pm.value, pm.min, pm.max) == pytest.approx(
        (40 * HOT_AFTERNOON, 30 * HOT_AFTERNOON, 50 * HOT_AFTERNOON))
    assert (pm.unit, pm.raw, pm.ref) == ("ug/m3", 40.0, "station")  # raw: as measured
    assert (tsp.value, tsp.ref) == (pytest.approx(100 * HOT_AFTERNOON), "station")
    assert (temp.value, pressure.value, temp.ref) == (31.0, 1006.0, "")  # unchanged
    assert so2.ref == "" and so2.unit == "ug/Nm3"  # a mixing ratio: already at 25 °C, 1 atm


@pytest.mark.parametrize("thp", [
    [],                                                             # no THP sensor
    [reading("temp", "degC", 31.0)],                                # no pressure
    [reading("temp", "degC", 31.0), reading("pressure", "hPa", 1006.0, status=2)],  # in error
    [reading("temp", "degC", None, status=2), reading("pressure", "hPa", 1006.0)],
    [reading("temp", "degC", 31.0), reading("pressure", "hPa", 50.0)],  # not the air's
    [reading("temp", "degC", 31.0, time=T + 300), reading("pressure", "hPa", 1006.0,
                                                           time=T + 300)],  # another record
])
def test_without_the_records_temperature_and_pressure_the_standard_conditions_are_used(thp):
    pm, *_ = UnitsProcessor().process(
        Batch([], readings=[reading("pm10", "ug/m3", 40.0), *thp])).readings
    assert (pm.value, pm.raw, pm.ref, pm.unit) == (40.0, None, "standard", "ug/m3")


# -- a second probe's channel (boards/param_names.py) converts and refers as its base ------------

def test_a_second_probes_gas_channel_converts_as_its_base():
    assert to_canonical("so2_b", "ppb", 100.0) == pytest.approx(262.04, abs=0.01)
    assert canonical_unit("co_2", "ppm") == "ug/Nm3"
    with pytest.raises(UnitError, match="so2_b: no conversion from 'mg/m3'"):
        factor("so2_b", "mg/m3")


def test_a_renamed_thp_channel_still_refers_the_particulates(edited):
    def shelter(doc: dict) -> None:
        for s in doc["stations"]:
            if s["id"] == "pq-air-02":
                s["sensors"] = {"thp": {"params": {"temp": "temp_shelter"}}}

    edited("registry/phu-quoc", shelter)
    at = {"station": "pq-air-02"}
    pm, *_ = UnitsProcessor().process(Batch([], readings=[
        reading("pm10", "ug/m3", 40.0, **at), reading("temp_shelter", "degC", 31.0, **at),
        reading("pressure", "hPa", 1006.0, **at)])).readings
    assert (pm.value, pm.ref) == (pytest.approx(40 * HOT_AFTERNOON), "station")
