"""Hourly means → VN_AQI (hourly NowCast, daily) and the indicative VN_WQI, through the
aggregate and indices stages together, checked against the domain functions and the worked
examples of docs/indices.md."""

from __future__ import annotations

import pytest

from collector.contracts import QC_GOOD, Batch, Reading
from collector.domain import aqi
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.processors.alerts.plugin import AlertsProcessor
from collector.processors.indices.plugin import IndicesProcessor

H = 3600
T = 1763755200  # an hour boundary; 03:00 local
DAY = 1763744400  # local midnight starting T's day
SO2_UG_PER_PPB = 64.07 / 24.45


def readings(station: str, kind: str, start: int, values: dict[str, tuple[float | None, str]],
             count: int = 12) -> list[Reading]:
    return [Reading(station=station, kind=kind, param=p, unit=u, time=start + 300 * (i + 1),
                    value=v, status=0, qc=QC_GOOD)
            for p, (v, u) in values.items() for i in range(count)]


class Chain:
    def __init__(self) -> None:
        self.agg, self.idx = AggregateProcessor(), IndicesProcessor()

    def run(self, rs: list[Reading]) -> dict[tuple[str, str, int], dict]:
        batch = self.idx.process(self.agg.process(Batch([], readings=rs)))
        return {(p.measurement, p.tags.get("period", ""), p.time): p.fields
                for p in batch.points if p.measurement in ("aqi", "wqi")}


def test_hourly_aqi_from_gas_in_ppb_and_pm_nowcast():
    c = Chain()
    for i in range(11):
        c.run(readings("pq-air-01", "air", T + i * H, {"pm10": (40.0, "ug/m3")}))
    got = c.run(readings("pq-air-01", "air", T + 11 * H,
                         {"pm10": (40.0, "ug/m3"), "so2": (200.0, "ppb")}))
    a = got[("aqi", "hour", T + 12 * H)]
    want = aqi.hourly_aqi({"pm10": [40.0] * 12, "so2": [200 * SO2_UG_PER_PPB]})
    assert a["aqi"] == want.aqi == 144 and a["dominant"] == "so2" and a["band"] == "poor"
    assert (a["sub_so2"], a["sub_pm10"]) == (144, 40)


def test_an_incomplete_hour_counts_as_missing():
    c = Chain()
    got = c.run(readings("pq-air-02", "air", T, {"pm10": (40.0, "ug/m3"),
                                                 "so2": (200.0, "ppb")}, count=8))
    assert ("aqi", "hour", T + H) not in got  # 8 of 12 records: no mean counts yet
    got = c.run(readings("pq-air-02", "air", T, {"so2": (200.0, "ppb")}, count=9))
    # no PM yet: no AQI, the sub-index; PM10's hour is still filling, so not final
    assert got[("aqi", "hour", T + H)] == {"sub_so2": 144, "complete": False}


def test_a_late_hour_recomputes_the_hourly_aqi_of_the_hours_after_it():
    c = Chain()
    c.run(readings("pq-air-03", "air", T, {"pm10": (100.0, "ug/m3")}, count=8))
    c.run(readings("pq-air-03", "air", T + H, {"pm10": (20.0, "ug/m3")}))
    c.run(readings("pq-air-03", "air", T + 2 * H, {"pm10": (20.0, "ug/m3")}))
    before = c.run(readings("pq-air-03", "air", T + 3 * H, {"pm10": (20.0, "ug/m3")}))
    # the first hour completes late: every NowCast that includes it changes
    late = [r for r in readings("pq-air-03", "air", T, {"pm10": (100.0, "ug/m3")})][8:]
    got = c.run(late)
    hours = sorted(t for (m, period, t) in got if period == "hour")
    # (the first hour alone has no NowCast: it needs 2 of the last 3 hours)
    assert hours == [T + 2 * H, T + 3 * H, T + 4 * H]
    now = got[("aqi", "hour", T + 4 * H)]
    assert now["aqi"] > before[("aqi", "hour", T + 4 * H)]["aqi"]
    assert now["aqi"] == aqi.hourly_aqi({"pm10": [100.0, 20.0, 20.0, 20.0]}).aqi


def test_daily_aqi_of_the_local_day():
    c = Chain()
    got = {}
    for i in range(24):
        got = c.run(readings("pq-air-04", "air", DAY + i * H, {"pm10": (75.0, "ug/m3")}))
    d = got[("aqi", "day", DAY + 24 * H)]
    assert d["aqi"] == aqi.daily_aqi({"pm10": [75.0] * 24}).aqi == 63  # 50 + 50 × 25/100
    assert d["dominant"] == "pm10" and d["band"] == "moderate"


def test_indicative_wqi_of_a_surface_water_station_matches_the_worked_example():
    c = Chain()
    got = c.run(readings("pq-tap-02", "surface_water", T, {
        "ph": (8.75, "pH"), "temp": (25.0, "degC"), "do": (6.1317, "mg/L"),
        "nh4": (0.45, "mg/L")}))
    w = got[("wqi", "", T + H)]
    # too few groups for the official index: not computed, the value only as indicative
    assert "wqi" not in w and "class" not in w
    assert (w["status"], w["indicative_wqi"], w["indicative_class"]) == \
        ("not_computed", 52, "medium")
    assert w["why"].startswith("data sufficiency not met")
    assert (w["sub_ph"], w["sub_nh4"]) == (75.0, 62.5) and w["sub_do"] == pytest.approx(75, abs=0.1)
    # so the e-gov outbox has nothing to send as VN_WQI
    from zoneinfo import ZoneInfo

    from collector.contracts import Point
    from collector.egov.messages import index_doc

    point = Point("wqi", {"station": "pq-tap-02"}, w, T + H)
    assert index_doc(point, "phu-quoc", "PQ", ZoneInfo("Asia/Ho_Chi_Minh")) is None


@pytest.mark.parametrize("station, kind", [("pq-sea-01", "sea_water"),
                                           ("pq-tap-01", "tap_water"),
                                           ("pq-ww-01", "wastewater")])
def test_no_wqi_at_all_for_sea_tap_or_waste_water(station, kind):
    got = Chain().run(readings(station, kind, T, {
        "ph": (8.75, "pH"), "temp": (25.0, "degC"), "do": (6.1317, "mg/L"),
        "nh4": (0.45, "mg/L")}))
    assert got == {}


def test_without_temperature_do_is_left_out_and_without_group_iv_there_is_no_wqi():
    c = Chain()
    got = c.run(readings("pq-tap-02", "surface_water", T, {"ph": (7.0, "pH"),
                                                           "do": (6.0, "mg/L")}))
    assert got == {}
    got = c.run(readings("pq-tap-02", "surface_water", T + H, {"ph": (7.0, "pH"),
                                                               "do": (6.0, "mg/L"),
                                                               "nh4": (0.2, "mg/L")}))
    w = got[("wqi", "", T + 2 * H)]
    assert set(w) == {"status", "why", "indicative_wqi", "indicative_class", "sub_ph",
                      "sub_nh4"} and w["indicative_wqi"] == 100


def test_state_round_trip():
    c = Chain()
    c.run(readings("pq-air-05", "air", T, {"pm10": (50.0, "ug/m3")}))
    again = IndicesProcessor()
    again.restore(c.idx.state())
    assert again.hours == c.idx.hours and again.kinds == {"pq-air-05": "air"}


def test_an_so2_episode_opens_the_hourly_aqi_alert_once_and_closes_it_once():
    """Records arrive one at a time through aggregate → indices → alerts. While an hour's SO2
    mean is still filling, its AQI (PM alone) is not final and must neither close nor reopen
    the alert (the HIL so2-episode scenario found exactly that flap at each new hour)."""
    agg, idx, alerts = AggregateProcessor(), IndicesProcessor(), AlertsProcessor("phu-quoc")
    events: list[tuple[str, int, str]] = []
    aqi_points = []
    for i in range(7 * 12):
        t = T + 300 * (i + 1)
        so2 = 260.0 if T + 2 * H < t <= T + 5 * H else 10.0
        rs = [Reading(station="pq-air-01", kind="air", param=p, unit=u, time=t, value=v,
                      status=0, qc=QC_GOOD)
              for p, u, v in (("pm10", "ug/m3", 40.0), ("so2", "ppb", so2))]
        batch = alerts.process(idx.process(agg.process(Batch([], readings=rs))))
        aqi_points += [p for p in batch.points if p.measurement == "aqi"
                       and p.tags["period"] == "hour"]
        events += [(p.fields["event"], p.time, str(p.fields["id"])) for p in batch.points
                   if p.measurement == "alert" and p.tags["rule"] == "aqi.hour"]
    assert [e for e, _t, _id in events] == ["open", "close"], events
    assert events[0][2] == events[1][2]
    assert events[0][1] == T + 3 * H  # the first hour of the episode, once its SO2 completes
    assert events[1][1] == T + 6 * H  # the first clean hour, once it is final
    # what the alert judged is what a closed hour's AQI is; a filling hour is marked
    final = [p for p in aqi_points if p.fields["complete"]]
    assert max(p.fields.get("aqi", 0) for p in final) == 176
    assert any(not p.fields["complete"] and p.fields.get("aqi") == 40 for p in aqi_points)


def test_an_hour_that_ends_with_an_incomplete_mean_becomes_final_when_the_next_begins():
    c = Chain()
    c.run(readings("pq-air-05", "air", T, {"pm10": (40.0, "ug/m3")}))
    got = c.run(readings("pq-air-05", "air", T + H, {"pm10": (40.0, "ug/m3")})
                + readings("pq-air-05", "air", T + H, {"so2": (200.0, "ppb")}, count=6))
    assert got[("aqi", "hour", T + 2 * H)] == {  # SO2 still filling: PM alone, provisional
        "aqi": 40, "dominant": "pm10", "band": "good", "sub_pm10": 40, "complete": False}
    # the next hour's first record: SO2 never completed, so it counts as missing, for good
    got = c.run(readings("pq-air-05", "air", T + 2 * H, {"pm10": (40.0, "ug/m3")}, count=1))
    assert got[("aqi", "hour", T + 2 * H)] == {
        "aqi": 40, "dominant": "pm10", "band": "good", "sub_pm10": 40, "complete": True}
    assert got[("aqi", "hour", T + 3 * H)]["complete"] is False
