"""The QC stage over the real registry and limits: per-station limits, state across restarts,
limit files that are wrong."""

from __future__ import annotations

import json

import pytest

import boards
from collector.contracts import QC_FAIL, QC_GOOD, QC_SUSPECT, Batch, Reading
from collector.processors.qc import checks as c
from collector.processors.qc.limits import LIMITS_PATH, LimitsError, load, registry_limits
from collector.processors.qc.plugin import QcProcessor
from collector.processors.units.plugin import UnitsProcessor

T0 = 1763755200


def reading(station: str, param: str, unit: str, value: float | None, t: int = T0,
            **kw) -> Reading:
    kind = "air" if station.startswith("pq-air") else \
        {"pq-sea": "sea_water", "pq-tap": "tap_water", "pq-ww-": "wastewater"}[station[:6]]
    return Reading(**{"station": station, "kind": kind, "param": param, "unit": unit,
                      "time": t, "value": value, "status": 0, **kw})


def flags(qc: QcProcessor, readings: list[Reading]) -> list[tuple[int, int]]:
    return [(r.qc, r.qc_bits) for r in qc.process(Batch([], readings=readings)).readings]


def test_limits_come_from_the_catalog_the_file_and_the_station_kind():
    limits = registry_limits()
    assert limits["pq-air-01"]["so2"].sensor == (0.0, 2000.0)  # qt-gas4-ec, ppb
    assert limits["pq-air-01"]["temp"].sensor == (-40.0, 80.0)  # qt-thp-485
    assert limits["pq-sea-01"]["temp"].sensor == (0.0, 60.0)  # qt-ph-485's probe
    assert limits["pq-sea-01"]["ph"].suspect == (7.5, 8.6)  # kinds.sea_water
    assert limits["pq-ww-01"]["ph"].suspect == (5.0, 9.0)  # kinds.wastewater
    assert limits["pq-air-01"]["so2"].suspect == (0.0, 2630.0)


def test_every_parameter_a_station_measures_has_its_own_limits():
    # a channel added to the catalog without limits would get the sensor range test only
    shipped = json.loads(LIMITS_PATH.read_text())["params"]
    for station in boards.registry().stations:
        missing = set(station.params()) - set(shipped)
        assert not missing, f"{station.id}: no QC limits for {sorted(missing)}"
    limits = registry_limits()
    assert limits["pq-air-01"]["pm2_5"].suspect == (0.0, 500.0)
    assert limits["pq-air-01"]["pm1"].spike == 120.0


def test_the_same_ph_is_good_in_a_wastewater_outfall_and_suspect_at_sea():
    qc = QcProcessor()
    assert flags(qc, [reading("pq-ww-01", "ph", "pH", 6.5),
                      reading("pq-sea-01", "ph", "pH", 6.5)]) == \
        [(QC_GOOD, 0), (QC_SUSPECT, c.CLIMATOLOGY)]


def test_gas_limits_apply_in_canonical_units_whether_or_not_units_ran():
    over = 1100.0  # ppb so2 = 2882 ug/Nm3: above the 2630 suspect limit, inside the sensor range
    plain = QcProcessor()
    assert flags(plain, [reading("pq-air-02", "so2", "ppb", over)]) == \
        [(QC_SUSPECT, c.CLIMATOLOGY)]
    converted = UnitsProcessor().process(Batch([], readings=[
        reading("pq-air-03", "so2", "ppb", over), reading("pq-air-03", "so2", "ppb", 2100.0,
                                                           t=T0 + 300)])).readings
    assert flags(QcProcessor(), converted) == [
        (QC_SUSPECT, c.CLIMATOLOGY),
        (QC_FAIL, c.SENSOR_RANGE | c.CLIMATOLOGY | c.RATE_OF_CHANGE | 0)]


def test_a_value_is_flagged_never_changed_or_dropped():
    r = reading("pq-air-01", "pm10", "ug/m3", 4000.0, status=2)
    (out,) = QcProcessor().process(Batch([], readings=[r])).readings
    assert out.value == 4000.0 and out.qc == QC_FAIL
    assert out.qc_bits == c.SENSOR_RANGE | c.CLIMATOLOGY | c.DEVICE_ERROR


def test_a_restart_does_not_reset_a_flat_line(tmp_path):
    first = QcProcessor()
    series = [reading("pq-tap-01", "do", "mg/L", 6.2, t=T0 + 300 * i) for i in range(80)]
    flags(first, series[:60])
    saved = json.loads(json.dumps(first.state()))  # through JSON, as state.json
    second = QcProcessor()
    second.restore(saved)
    fresh = QcProcessor()
    # 6 h flat (limits: suspect after 6 h) only with the history from before the restart
    assert flags(second, series[60:])[-1] == (QC_SUSPECT, c.FLATLINE)
    assert flags(fresh, series[60:])[-1] == (QC_GOOD, 0)


def test_history_is_bounded_and_backfill_beyond_it_is_not_kept():
    qc = QcProcessor(history_size=4)
    flags(qc, [reading("pq-air-01", "temp", "degC", 30.0 + i % 2, t=T0 + 300 * i)
               for i in range(10)])
    flags(qc, [reading("pq-air-01", "temp", "degC", 30.0, t=T0 - 3000)])
    (entry,) = qc.state()["series"].values()
    assert [t for t, _ in entry["h"]] == [T0 + 300 * i for i in range(6, 10)]


def test_unreadable_saved_state_starts_empty(caplog):
    qc = QcProcessor()
    qc.restore({"v": 99})
    qc.restore({"v": 1, "series": {"pq-air-01|so2": {"h": "nonsense"}}})
    assert qc.state() == {"v": 1, "series": {}} and "unreadable" in caplog.text


@pytest.mark.parametrize("doc, says", [
    ({"params": {"so2": {"spikes": 3}}}, "params.so2.spikes: unknown limit"),
    ({"params": {"so2": {"suspect": [10, 5]}}}, "params.so2.suspect: [10, 5] is not [low, high]"),
    ({"params": {"so2": {"spike": -1}}}, "params.so2.spike: -1 is not a number >= 0"),
    ({"params": {"so2": {"max_gap_s": 0}}}, "params.so2.max_gap_s: 0 is not a whole number >= 1"),
    ({"kinds": {"air": {"so2": []}}}, "kinds.air.so2: must be an object"),
    ({"params": {"ph": {"flat_suspect_s": 600, "flat_fail_s": 60}}},
     "flat_suspect_s 600 exceeds flat_fail_s 60"),
    ({"limits": {}}, "limits: unknown key"),
])
def test_a_wrong_limits_file_is_named_with_its_key(tmp_path, doc, says):
    path = tmp_path / "limits.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(LimitsError) as err:
        load(path)
    assert str(path) in str(err.value) and says in str(err.value)


def test_station_overrides_and_switching_a_test_off(tmp_path):
    doc = json.loads((load.__globals__["LIMITS_PATH"]).read_text())
    doc["stations"] = {"pq-air-05": {"pm10": {"suspect": None, "spike": 1}}}
    path = tmp_path / "limits.json"
    path.write_text(json.dumps(doc))
    limits = registry_limits(path=path)
    assert limits["pq-air-05"]["pm10"].suspect is None and limits["pq-air-05"]["pm10"].spike == 1
    assert limits["pq-air-04"]["pm10"].suspect == (0.0, 600.0)
