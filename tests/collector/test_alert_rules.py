"""Alert rules as data (collector/rules/) for each registry station, and the alerts stage turning
means, AQI, device status and time into alert points whose payload is protocol-v1 `alert`."""

from __future__ import annotations

import dataclasses
import json
import shutil
from zoneinfo import ZoneInfo

import fastjsonschema
import pytest

import boards
from collector.alerting import rules
from collector.contracts import Batch, Envelope, Point, Reading
from collector.processors.alerts.plugin import AlertsProcessor
from quantrac_common.paths import PROTOCOL_SCHEMA

H = 3600
T = 1763755200
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SCHEMA = json.loads(PROTOCOL_SCHEMA.read_text())
ALERT = fastjsonschema.compile({**SCHEMA, "$ref": "#/definitions/alert"})


def limits(station: str) -> dict[str, tuple[float | None, float | None]]:
    by, _ = rules.for_registry(rules.load())
    return {r.id: (r.below, r.above) for r in by[station] if r.signal == "mean"}


def test_air_stations_get_qcvn05_for_each_averaging_period_of_what_they_measure():
    got = limits("pq-air-01")
    assert got["qcvn05.so2.1h"] == (None, 350) and got["qcvn05.so2.24h"] == (None, 125)
    assert got["qcvn05.co.8h"] == (None, 10000) and got["qcvn05.o3.8h"] == (None, 120)
    assert got["qcvn05.pm10.24h"] == (None, 100) and got["qcvn05.tsp.1h"] == (None, 300)
    # the particulate sensor reads PM2.5 and PM1: QCVN 05:2023 limits PM2.5 over 24 h only (its
    # yearly limit is not evaluated: no yearly mean is computed) and PM1 not at all
    assert got["qcvn05.pm2_5.24h"] == (None, 50)
    assert not [r for r in got if r.startswith(("qcvn05.pm2_5.1h", "qcvn05.pm1."))]


def test_water_stations_get_their_regulation_and_column():
    # QCVN 14:2025 values are not found: the 2008 column values apply, without K
    assert limits("pq-ww-01") == {"qcvn14_2025.ph.1h": (5, 9), "qcvn14_2025.tss.1h": (None, 100),
                                  "qcvn14_2025.nh4.1h": (None, 10)}  # column B
    assert limits("pq-ww-03")["qcvn14_2025.tss.1h"] == (None, 50)  # column A
    sea_fish, sea_bath = limits("pq-sea-02"), limits("pq-sea-01")
    # QCVN 10:2023 Bảng 2 (ven bờ) has one NH4+ limit; DO is the 2015 fallback by use
    assert sea_fish["qcvn10_2023.nh4.1h"] == (None, 0.1) == sea_bath["qcvn10_2023.nh4.1h"]
    assert sea_fish["qcvn10_2023.do.1h"] == (5, None) and sea_bath["qcvn10_2023.do.1h"] == (4, None)
    assert limits("pq-tap-01")["qcvn01-1_2024.ph.1h"] == (6.0, 8.5)  # the 2018 fallback
    assert limits("pq-tap-02") == {
        "qcvn08_2023.ph.1h": (6.5, 8.5), "qcvn08_2023.do.1h": (6, None),
        "qcvn08_2023.tss.1h": (None, 25), "qcvn08_2023.nh4.1h": (None, 0.3)}


def test_qcvn14_2008_limits_are_multiplied_by_the_k_factor_except_ph():
    st = boards.registry().get("pq-ww-01")
    st = dataclasses.replace(st, regulation="QCVN 14:2008/BTNMT", raw={**st.raw, "k_factor": 1.2})
    got, warnings = rules.regulation_rules(rules.load(), st, set(st.params()), VN)
    by = {r.id: (r.below, r.above) for r in got}
    assert by["qcvn14.tss.1h"] == (None, pytest.approx(120)) and warnings == []
    assert by["qcvn14.nh4.1h"] == (None, pytest.approx(12)) and by["qcvn14.ph.1h"] == (5, 9)


def test_a_station_whose_column_or_regulation_has_no_limits_is_warned_about():
    st = dataclasses.replace(boards.registry().get("pq-sea-01"), column="spa")
    got, warnings = rules.regulation_rules(rules.load(), st, set(st.params()), VN)
    assert {r.id for r in got} == {"qcvn10_2023.ph.1h", "qcvn10_2023.nh4.1h"}
    assert any("no column 'spa' for do" in w for w in warnings)
    st = dataclasses.replace(st, regulation="QCVN 99:2030")
    assert rules.regulation_rules(rules.load(), st, set(), VN)[1] == [
        "station pq-sea-01: no rules file for regulation 'QCVN 99:2030': no limit alerts"]


def test_pm2_5_limit_tightens_on_2026_01_01_local_time():
    doc = rules.load()
    st = dataclasses.replace(boards.registry().get("pq-air-01"))
    got, _ = rules.regulation_rules(doc, st, {"pm2_5"}, VN)
    (r,) = got
    assert r.limits(1767200399) == (50, None) and r.limits(1767200400) == (45, None)


@pytest.mark.parametrize("file, change, says", [
    ("defaults.json", lambda d: d["rules"][0].update(signal="smoke"),
     "rules[0].signal: 'smoke' is not one of"),
    ("defaults.json", lambda d: d["rules"].append(dict(d["rules"][0])), "appears twice"),
    ("defaults.json", lambda d: d["texts"]["aqi"]["open"].pop("vi"), "texts.aqi.open: needs"),
    ("qcvn05_2023.json", lambda d: d["limits"][0].update(period="2h"),
     "qcvn05_2023.json: limits[0].period: '2h' is not one of 1h, 8h, 24h"),
    ("qcvn14_2008.json", lambda d: d["limits"][1].update(max={"A": "fifty"}),
     "limits[1].max.A: 'fifty' is not a number or 'not found'"),
    ("qcvn14_2025.json", lambda d: d["limits"][1]["fallback"].update(max={"A": "not found"}),
     "limits[1].fallback.max.A: 'not found' is not a number or a list"),
    ("qcvn14_2025.json", lambda d: d.update(transition_end="end of 2031"),
     "transition_end: 'end of 2031' is not a date"),
    ("qcvn10_2023.json", lambda d: d["limits"][0].update(confidence="high"),
     "limits[0].confidence: 'high' is not one of A, B, C"),
    ("qcvn05_2023.json", lambda d: d["limits"][-1].update({"from": {"2026-13-01": {"max": 1}}}),
     "from: '2026-13-01' is not a date"),
])
def test_a_broken_rules_file_is_named(tmp_path, file, change, says):
    folder = tmp_path / "rules"
    shutil.copytree(rules.RULES_DIR, folder)
    doc = json.loads((folder / file).read_text())
    change(doc)
    (folder / file).write_text(json.dumps(doc))
    with pytest.raises(rules.RulesError) as err:
        rules.load(folder)
    assert says in str(err.value) and file in str(err.value)


# -- the alerts stage -------------------------------------------------------------------------


def mean(station: str, param: str, unit: str, period: str, end: int, value: float,
         complete: bool = True, kind: str = "air", **extra) -> Point:
    fields = {"value": value, "n": 12, "expected": 12, "complete": complete, **extra}
    return Point("mean", {"station": station, "kind": kind, "param": param, "unit": unit,
                          "period": period}, fields, end)


def judge(p: AlertsProcessor, points=(), readings=(), envelopes=()) -> list[Point]:
    batch = p.process(Batch(list(envelopes), readings=list(readings), points=list(points)))
    alerts = [x for x in batch.points if x.measurement == "alert"]
    for a in alerts:
        ALERT(a.note)  # every payload is a valid protocol-v1 alert
        assert a.note["st"] == a.tags["station"] and a.note["rule"] == a.tags["rule"]
    return alerts


@pytest.fixture
def stage() -> AlertsProcessor:
    return AlertsProcessor("phu-quoc", tick_s=0.5)


def test_an_hourly_so2_mean_in_ppb_above_350_ug_opens_and_recovers(stage):
    (a,) = judge(stage, [mean("pq-air-01", "so2", "ppb", "1h", T, 200.0)])
    assert a.tags == {"station": "pq-air-01", "rule": "qcvn05.so2.1h", "severity": "warning"}
    assert (a.fields["state"], a.fields["limit"], a.fields["unit"]) == ("open", 350.0, "ug/Nm3")
    assert a.fields["value"] == pytest.approx(200 * 64.07 / 24.45)  # 524.1 µg/Nm³
    assert a.time == T and a.fields["id"] == f"pq-air-01/qcvn05.so2.1h/{T}"
    doc = a.note
    assert doc["open"] == [{"rule": "qcvn05.so2.1h", "id": doc["id"], "since": T}]
    assert "524.1 µg/Nm³" in doc["text_vi"] and "vượt giới hạn 350 µg/Nm³" in doc["text_vi"]
    assert "above the QCVN 05:2023/BTNMT limit of 350 µg/Nm³" in doc["text_en"]
    assert judge(stage, [mean("pq-air-01", "so2", "ppb", "1h", T + H, 150.0)]) == []  # 393
    (c,) = judge(stage, [mean("pq-air-01", "so2", "ppb", "1h", T + 2 * H, 50.0)])
    assert (c.fields["state"], c.note["event"], c.note["id"], c.note["open"]) == \
        ("closed", "close", doc["id"], [])
    assert "trở lại trong giới hạn" in c.note["text_vi"]


def test_no_alert_on_an_incomplete_mean(stage):
    assert judge(stage, [mean("pq-air-01", "so2", "ppb", "1h", T, 900.0, complete=False)]) == []


def test_water_minimum_and_the_open_list(stage):
    # (24 h limits are judged on whole days: test_alert_days.py)
    (b,) = judge(stage, [mean("pq-sea-02", "do", "mg/L", "1h", T, 4.5, kind="sea_water")])
    assert b.tags["rule"] == "qcvn10_2023.do.1h" and b.note["limit"] == 5.0
    assert "thấp hơn mức tối thiểu 5 mg/L" in b.note["text_vi"]
    (c,) = judge(stage, [mean("pq-sea-02", "nh4", "mg/L", "1h", T, 0.3, kind="sea_water")])
    assert [o["rule"] for o in c.note["open"]] == ["qcvn10_2023.do.1h", "qcvn10_2023.nh4.1h"]


def test_qc_failure_rate_of_an_hour(stage):
    p = mean("pq-air-03", "pm10", "ug/m3", "1h", T, 20.0, records=12, qc_fail=4)
    (a,) = judge(stage, [p])
    assert a.tags["rule"] == "qc_fail.pm10" and a.fields["value"] == pytest.approx(100 / 3)
    few = mean("pq-air-04", "pm10", "ug/m3", "1h", T, 20.0, records=6, qc_fail=6)
    assert judge(stage, [few]) == []  # 6 of 12 records: too few to judge the rate


def test_aqi_band_rule(stage):
    def aqi(t, value, band):
        return Point("aqi", {"station": "pq-air-05", "period": "hour"},
                     {"aqi": value, "band": band}, t)
    assert judge(stage, [aqi(T, 90, "moderate")]) == []
    (a,) = judge(stage, [aqi(T + H, 130, "poor")])
    assert a.note["level"] == "poor" and "mức Kém" in a.note["text_vi"]
    (u,) = judge(stage, [aqi(T + 2 * H, 160, "bad")])
    assert (u.note["event"], u.fields["state"], u.note["id"]) == ("update", "open", a.note["id"])


def test_sensor_error_status_opens_after_ten_minutes(stage):
    def rec(t, status):
        return Reading("pq-air-06", "air", "co", "ppm", t, None, status)
    assert judge(stage, readings=[rec(T, 2), rec(T + 300, 2)]) == []
    (a,) = judge(stage, readings=[rec(T + 600, 2)])
    assert a.tags["rule"] == "sensor_error.co" and a.note["since"] == T
    (c,) = judge(stage, readings=[rec(T + 900, 0)])
    assert c.note["event"] == "close"


def test_a_station_offline_by_its_last_will_or_by_silence(stage):
    now = stage.started + 10
    assert stage.tick(now, {"stations": {}}) == []
    will = {"stations": {"pq-air-07": {"online": False}}}
    assert stage.tick(now + 1, will) == []  # pending 60 s
    assert stage.tick(now + 60, will) == []
    (a,) = [x for x in stage.tick(now + 61, will) if x.station == "pq-air-07"]
    assert (a.tags["rule"], a.tags["severity"], a.note["event"]) == ("offline", "critical", "open")
    assert "mất kết nối" in a.note["text_vi"]
    # 3 missed 5-minute reports (900 s) + the 60 s pending period: every silent station
    assert stage.tick(now + 1000, {"stations": {}}) == []  # silent 1000 s: pending
    opened = {x.station for x in stage.tick(now + 1100, {"stations": {}})}
    assert "pq-sea-01" in opened and "pq-air-07" not in opened  # already open: not again
    env = Envelope("quantrac/v1/pq-sea-01/data", b"{}", now + 1150)
    judge(stage, envelopes=[env])
    closed = [x for x in stage.tick(now + 1160, {"stations": {}}) if x.station == "pq-sea-01"]
    assert [x.note["event"] for x in closed] == ["close"]


def test_the_collector_alerts_when_the_spool_fills(stage):
    def stats(used):
        return {"stations": {}, "spool": {"bytes": used, "max_bytes": 1000}}
    assert stage.tick(stage.started, stats(500)) == []
    (a,) = stage.tick(stage.started + 1, stats(850))
    assert (a.station, a.tags["rule"], a.fields["value"]) == ("collector", "spool_high", 85.0)
    ALERT(a.note)
    assert stage.tick(stage.started + 2, stats(750)) == []  # hysteresis 10 points
    (c,) = stage.tick(stage.started + 3, stats(690))
    assert c.note["event"] == "close"


def test_maintenance_mutes_from_the_options():
    stage = AlertsProcessor("phu-quoc", mutes=("pq-air-0? qcvn05.* 2025-11-21T00:00 "
                                                "2025-11-23T00:00",))
    assert judge(stage, [mean("pq-air-01", "so2", "ppb", "1h", T, 900.0)]) == []
    assert judge(stage, [mean("pq-air-01", "so2", "ppb", "1h", T + 2 * 86400, 900.0)])


def test_state_round_trip_keeps_open_alerts(stage):
    judge(stage, [mean("pq-air-01", "no2", "ppb", "1h", T, 500.0)])
    again = AlertsProcessor("phu-quoc")
    again.restore(json.loads(json.dumps(stage.state())))
    assert again.open_alerts() == {"pq-air-01": ["qcvn05.no2.1h"]}
    (c,) = judge(again, [mean("pq-air-01", "no2", "ppb", "1h", T + H, 10.0)])
    assert c.note["event"] == "close"


def test_a_custom_rules_folder(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(rules.RULES_DIR, folder)
    doc = json.loads((folder / "qcvn05_2023.json").read_text())
    doc["limits"][0]["max"] = 100
    (folder / "qcvn05_2023.json").write_text(json.dumps(doc))
    stage = AlertsProcessor("phu-quoc", rules_dir=str(folder))
    assert judge(stage, [mean("pq-air-01", "so2", "ug/Nm3", "1h", T, 150.0)])


@pytest.mark.parametrize("options, says", [
    ({"collector": {"processors": ["validate", "indices", "aggregate"]}},
     "'indices' needs 'aggregate' before it"),
    ({"collector": {"processors": ["validate", "alerts"]}}, "'alerts' needs 'aggregate'"),
    ({"processors": {"alerts": {"mutes": ["pq-air-01 * tomorrow 2026-01-01T00:00"]}}},
     "[processors.alerts] mutes: mute 'pq-air-01 * tomorrow 2026-01-01T00:00': start"),
    ({"processors": {"alerts": {"rules": "/nowhere"}}},
     "[processors.alerts] rules = '/nowhere': /nowhere/defaults.json: no such file"),
    ({"sinks": {"notify": {"min_severity": "loud"}}},
     "[sinks.notify] min_severity = 'loud': must be info, warning or critical"),
    ({"processors": {"aggregate": {"keep_hours": 12}}},
     "[processors.aggregate] keep_hours = 12: must be between 32 and 336"),
    ({"metrics": {"interval_s": 0}}, "[metrics] interval_s = 0: must be between 1 and 3600"),
])
def test_bad_derived_options_are_named(tmp_path, options, says):
    from test_collector_config import ENV

    from collector.config import ConfigError, Settings

    with pytest.raises(ConfigError) as err:
        Settings.from_env(ENV, tmp_path, options)
    assert says in str(err.value)


def test_time_driven_rules_are_judged_every_tick_s():
    stage = AlertsProcessor("phu-quoc", tick_s=10)
    empty = {"stations": {}, "spool": {"bytes": 0, "max_bytes": 1000}}
    full = {"stations": {}, "spool": {"bytes": 900, "max_bytes": 1000}}
    assert stage.tick(stage.started, empty) == []
    assert stage.tick(stage.started + 5, full) == []  # not due: nothing judged
    assert [a.tags["rule"] for a in stage.tick(stage.started + 10, full)] == ["spool_high"]
