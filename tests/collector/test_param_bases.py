"""A station with two probes of one parameter (boards/param_names.py: the raw-water source
pq-tap-02 with a second pH probe recording `ph_2` and `temp_2`): each channel is judged by its
base's limit with an alert of its own that says which probe, the indices count one channel per
parameter, and the Circular 10 file and the open data give the base's symbol."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import pytest

import boards
from collector.alerting import rules
from collector.contracts import QC_GOOD, Batch, Point, Reading
from collector.egov import datafile, opendata
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.processors.alerts.plugin import AlertsProcessor
from collector.processors.indices.plugin import IndicesProcessor

H = 3600
T = 1763755200  # an hour boundary
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PH2 = {"id": "ph2", "model": "qt-ph-485", "uart": "rs485", "address": 9,
       "params": {"ph": "ph_2", "temp": "temp_2"}}


@pytest.fixture
def second_ph(edited):
    """pq-tap-02 (raw-water, QCVN 08:2023 column A) with a second pH probe; `primary(...)`
    marks which sensor's channels count."""
    edited("profiles/raw-water", lambda p: p["sensors"].append(dict(PH2)))

    def primary(sensor: str, params: list[str]) -> None:
        edited("profiles/raw-water", lambda p: next(
            s for s in p["sensors"] if s["id"] == sensor).update(primary=params))
    return primary


def ph_rules() -> dict[str, object]:
    got, _ = rules.for_registry(rules.load())
    return {r.param: r for r in got["pq-tap-02"] if r.signal == "mean" and r.param.startswith("ph")}


def test_each_channel_is_judged_by_its_base_parameters_limit(second_ph):
    got = ph_rules()
    assert set(got) == {"ph", "ph_2"}
    ph, ph2 = got["ph"], got["ph_2"]
    assert (ph2.above, ph2.below, ph2.unit, ph2.period) == (ph.above, ph.below, ph.unit, "1h")
    assert ph.id == "qcvn08_2023.ph.1h"  # today's rule and its open alerts keep their id
    assert ph2.id == "qcvn08_2023.ph_2.1h"


def test_with_every_channel_renamed_the_limit_still_applies(edited):
    edited("profiles/raw-water", lambda p: p["sensors"][0].update(params={"ph": "ph_a"}))
    assert set(ph_rules()) == {"ph_a"}


def mean(param: str, unit: str, value: float, end: int = T + H) -> Point:
    return Point("mean", {"station": "pq-tap-02", "kind": "surface_water", "param": param,
                          "unit": unit, "period": "1h"},
                 {"value": value, "n": 12, "expected": 12, "complete": True}, end)


def test_two_probes_alerts_open_apart_and_say_which_probe(second_ph):
    stage = AlertsProcessor("phu-quoc")
    out = stage.process(Batch([], points=[mean("ph", "pH", 7.2), mean("ph_2", "pH", 9.6)]))
    alerts = [p for p in out.points if p.measurement == "alert"]
    assert [a.tags["rule"] for a in alerts] == ["qcvn08_2023.ph_2.1h"]
    assert "pH (probe 2)" in alerts[0].fields["text_en"]
    assert "pH (đầu đo 2)" in alerts[0].fields["text"]
    out = stage.process(Batch([], points=[mean("ph", "pH", 9.7, T + 2 * H),
                                          mean("ph_2", "pH", 9.6, T + 2 * H)]))
    opened = [p for p in out.points if p.measurement == "alert"]
    assert [a.tags["rule"] for a in opened] == ["qcvn08_2023.ph.1h"]  # its own, not merged
    assert sorted(stage.open_alerts()["pq-tap-02"]) == ["qcvn08_2023.ph.1h",
                                                        "qcvn08_2023.ph_2.1h"]


def readings(values: dict[str, tuple[float, str]], start: int = T) -> list[Reading]:
    return [Reading(station="pq-tap-02", kind="surface_water", param=p, unit=u,
                    time=start + 300 * (i + 1), value=v, status=0, qc=QC_GOOD)
            for p, (v, u) in values.items() for i in range(12)]


WATER = {"ph": (8.75, "pH"), "temp": (25.0, "degC"), "do": (6.1317, "mg/L"),
         "nh4": (0.45, "mg/L")}
PROBE2 = {"ph_2": (6.0, "pH"), "temp_2": (5.0, "degC")}


def wqi(rs: list[Reading]) -> dict:
    batch = IndicesProcessor().process(AggregateProcessor().process(Batch([], readings=rs)))
    (w,) = [p.fields for p in batch.points if p.measurement == "wqi"]
    return w


def test_a_second_probe_never_counts_twice_in_the_wqi(second_ph):
    alone = wqi(readings(WATER))
    both = wqi(readings({**WATER, **PROBE2}))
    assert both == alone
    assert (both["sub_ph"], both["indicative_wqi"]) == (75.0, 52)  # docs/indices.md example


def test_the_channel_marked_primary_is_the_one_the_wqi_counts(second_ph):
    second_ph("ph2", ["ph", "temp"])
    both = wqi(readings({**WATER, **PROBE2}))
    only2 = wqi(readings({**PROBE2, "do": WATER["do"], "nh4": WATER["nh4"]}))
    assert both == only2 and both["sub_ph"] != 75.0  # pH 6.0 and 5 °C, not the first probe


def test_the_circular_10_file_sends_the_counted_channel_under_the_base_symbol(second_ph,
                                                                             caplog):
    reg = boards.registry()
    naming = datafile.Naming("AnGiang", "PhuQuoc", TZ, {}, {
        st.id: datafile.sent_channels(st) for st in reg.stations})
    rs = [r for r in readings({**WATER, **PROBE2}) if r.time == T + 300]
    with caplog.at_level(logging.WARNING, "quantrac.collector.egov"):
        text = datafile.content(rs, datafile.load_symbols(), naming)
    lines = [line.split("\t")[:2] for line in text.splitlines()]
    assert ["pH", "8.75"] in lines and ["Temp", "25.0"] in lines
    assert [s for s, _ in lines].count("pH") == 1 and [s for s, _ in lines].count("Temp") == 1
    assert "pq-tap-02 'ph_2' is a second probe of 'ph': Circular 10 has one line per " \
        "parameter, so only 'ph' is sent" in caplog.text
    second_ph("ph2", ["ph"])
    naming = datafile.Naming("AnGiang", "PhuQuoc", TZ, {}, {
        st.id: datafile.sent_channels(st) for st in boards.registry().stations})
    lines = [line.split("\t")[:2] for line in
             datafile.content(rs, datafile.load_symbols(), naming).splitlines()]
    assert ["pH", "6.00"] in lines and ["pH", "8.75"] not in lines


def test_the_open_data_names_a_second_probe_by_the_base_symbol_and_its_qualifier():
    rows = [(T, "ph", 7.2, "pH", 0, 1), (T, "ph_2", 7.4, "pH", 0, 1),
            (T, "temp_do", 28.0, "degC", 0, 1), (T, "pm2_5", 20.0, "ug/m3", 0, 1)]
    cells = opendata.table(rows, "pq-tap-02", TZ, datafile.load_symbols())
    assert [c[2] for c in cells] == ["pH", "pH_2", "Temp_do", "PM2,5"]


def test_the_bulletin_judges_each_probe_against_the_base_limit(second_ph):
    from datetime import date

    from collector.report import build, fetch

    def m(param: str, value: float) -> dict:
        return {"param": param, "period": "1h", "unit": "pH", "time": T + H, "value": value,
                "complete": True}

    data = fetch.StationData(means=[m("ph", 7.2), m("ph_2", 9.6)])
    span = build.Span("daily", date(2025, 11, 21), date(2025, 11, 21), TZ)
    rows = {r["param"]: r for r in build._limits(boards.registry().get("pq-tap-02"), data,
                                                 rules.load(), span) if r["period"] == "1h"}
    assert rows["ph"]["exceed"] == [] and rows["ph"]["n"] == 1
    assert [e["value"] for e in rows["ph_2"]["exceed"]] == [9.6]
    assert rows["ph_2"]["rule"] == "qcvn08_2023.ph_2.1h"
    assert rows["ph_2"]["max"] == rows["ph"]["max"]


def test_an_air_stations_only_pm2_5_under_its_own_name_still_makes_the_aqi(edited):
    def rename(doc: dict) -> None:
        for s in doc["stations"]:
            if s["id"] == "pq-air-02":
                s["sensors"] = {"pm": {"params": {"pm2_5": "pm2_5_b"}}}

    edited("registry/phu-quoc", rename)

    def aqi(station: str, param: str) -> dict:
        rs = [Reading(station=station, kind="air", param=param, unit="ug/m3",
                      time=T + 300 * (i + 1), value=80.0 + i % 7, status=0, qc=QC_GOOD)
              for i in range(12 * 13)]
        batch = IndicesProcessor().process(AggregateProcessor().process(Batch([], readings=rs)))
        got = {p.time: p.fields for p in batch.points
               if p.measurement == "aqi" and p.tags["period"] == "hour"}
        assert got, f"no hourly AQI at {station}"
        return got

    renamed, plain = aqi("pq-air-02", "pm2_5_b"), aqi("pq-air-01", "pm2_5")
    assert renamed == plain
    assert {f.get("dominant") for f in renamed.values()} == {"pm2_5"}
