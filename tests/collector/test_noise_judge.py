"""Noise in the collector: hourly LAeq as the energy mean of a station's report periods, the
regulation period's LAeq as the energy mean of its hours, noise alerts by period of the day
(QCVN 26:2010 until 2026, QCVN 26:2025 with the department's clock hours and area), and the
registry's and the department's noise entries refused with the key named.

The stages run in process on readings as the validate stage makes them (the live path over
the broker is in test_noise_live.py)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from collector.contracts import QC_GOOD, Batch, Reading
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.processors.alerts.plugin import AlertsProcessor

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATION = "pq-air-02"  # Dương Đông night market: QCVN 26:2010, normal area (70 / 55 dBA)


def at(day: str, hour: int) -> int:
    """UTC epoch of local `hour`:00 on `day` (hour may exceed 23: the next day)."""
    d = datetime.fromisoformat(day).replace(tzinfo=TZ) + timedelta(hours=hour)
    return int(d.timestamp())


def hour_records(start: int, levels: list[float], param: str = "laeq",
                 station: str = STATION) -> list[Reading]:
    """One hour of 5-minute records (the air profile's report period), stamped at their ends."""
    return [Reading(station=station, kind="air", param=param, unit="dBA",
                    time=start + 300 * (i + 1), value=float(v), status=0, qc=QC_GOOD, n=300)
            for i, v in enumerate(levels)]


def energy_mean(levels: list[float]) -> float:
    """Independent of collector/domain/noise.py: 10·log10 of the mean power."""
    return 10 * math.log10(sum(10 ** (x / 10) for x in levels) / len(levels))


class Chain:
    """aggregate → alerts, as the collector runs them."""

    def __init__(self, department: str = "") -> None:
        self.agg = AggregateProcessor("phu-quoc")
        self.alerts = AlertsProcessor("phu-quoc", department=department)
        self.points: list = []

    def feed(self, readings: list[Reading]) -> None:
        batch = self.agg.process(Batch([], readings=readings))
        self.points += self.alerts.process(batch).points

    def hours(self, day: str, first: int, levels: list[float], station: str = STATION) -> None:
        """One hour per level, from local hour `first`, each hour steady at its level."""
        for i, level in enumerate(levels):
            self.feed(hour_records(at(day, first + i), [level] * 12, station=station))

    def alerts_of(self, rule_prefix: str = "qcvn26") -> list:
        return [p for p in self.points if p.measurement == "alert"
                and p.tags["rule"].startswith(rule_prefix)]

    def periods(self) -> dict[tuple[str, str, int], dict]:
        out = {}
        for p in self.points:
            if p.measurement == "noise_period":
                out[(p.tags["rule_set"], p.tags["period"], p.time)] = {**p.tags, **p.fields}
        return out


def test_an_hours_laeq_is_the_energy_mean_of_its_records_not_the_arithmetic_one():
    agg = AggregateProcessor("phu-quoc")
    levels = [50.0, 60.0, 70.0] * 4  # twelve 5-minute LAeq values
    batch = agg.process(Batch([], readings=hour_records(at("2026-11-20", 10), levels)))
    hourly = next(p for p in batch.points if p.tags["period"] == "1h")
    assert hourly.fields["value"] == pytest.approx(65.7, abs=0.05)  # not 60
    assert hourly.fields["value"] == pytest.approx(energy_mean(levels), abs=1e-9)


def test_an_hours_lamax_is_the_largest_and_lamin_the_smallest_of_its_records():
    agg = AggregateProcessor("phu-quoc")
    start = at("2026-11-20", 10)
    readings = hour_records(start, [71.0, 88.5, 64.0] * 4, "lamax") + \
        hour_records(start, [41.0, 38.5, 44.0] * 4, "lamin")
    batch = agg.process(Batch([], readings=readings))
    got = {p.tags["param"]: p.fields["value"] for p in batch.points if p.tags["period"] == "1h"}
    assert got == {"lamax": 88.5, "lamin": 38.5}


def test_a_days_laeq_over_fifteen_hours_matches_an_independent_energy_mean():
    chain = Chain()
    # 6:00–21:00: a quiet morning, trucks at rush hours, the market from 17:00
    day = [52.0, 58.5, 66.0, 63.0, 61.5, 60.0, 59.0, 60.5, 62.0, 61.0, 64.5, 67.0, 69.5,
           68.0, 66.5]
    assert len(day) == 15
    chain.hours("2026-11-20", 6, day)
    chain.hours("2026-11-20", 21, [50.0])  # the first night hour ends the day period
    judged = chain.periods()[("qcvn26_2010", "day", at("2026-11-20", 21))]
    assert judged["laeq"] == pytest.approx(energy_mean(day), abs=0.1)
    assert abs(judged["laeq"] - sum(day) / len(day)) > 1  # the arithmetic mean is wrong
    assert (judged["n"], judged["expected"], judged["complete"]) == (15, 15, True)
    assert judged["limit"] == 70 and judged["exceeded"] is False
    assert judged["regulation"] == "QCVN 26:2010/BTNMT" and judged["area"] == "normal"


def test_a_loud_night_market_evening_opens_one_night_alert_and_closes_it_when_met():
    chain = Chain()
    chain.hours("2026-11-20", 18, [66.0, 67.0, 68.0])  # day, under 70
    assert chain.alerts_of() == []
    # 21:00 on: the night limit is 55 dBA; the market stays loud until midnight
    chain.hours("2026-11-20", 21, [64.0, 62.0, 60.0, 53.5, 51.0])
    alerts = chain.alerts_of()
    assert [(a.tags["rule"], a.fields["event"]) for a in alerts] == [
        ("qcvn26_2010.laeq.night", "open"), ("qcvn26_2010.laeq.night", "close")]
    opened, closed = alerts
    assert opened.time == at("2026-11-20", 22)  # the hour 21–22 h
    assert opened.fields["limit"] == 55.0 and opened.fields["value"] == 64.0
    assert "night (21–6 h)" in opened.fields["text_en"]
    assert "QCVN 26:2010/BTNMT" in opened.fields["text_en"]
    # 53.5 is under 55 but not by the 5 % hysteresis (2.75 dB): the alert stays open
    assert closed.time == at("2026-11-20", 26) and closed.fields["id"] == opened.fields["id"]


def test_a_day_within_limits_opens_no_noise_alert():
    chain = Chain()
    chain.hours("2026-11-19", 6, [60.0 + (i % 5) for i in range(15)])
    chain.hours("2026-11-19", 21, [50.0, 48.0, 46.0, 45.0, 44.0, 44.0, 43.0, 45.0, 49.0])
    chain.hours("2026-11-20", 6, [58.0])
    assert chain.alerts_of() == []
    periods = chain.periods()
    assert periods[("qcvn26_2010", "night", at("2026-11-20", 6))]["exceeded"] is False
    assert periods[("qcvn26_2010", "day", at("2026-11-19", 21))]["exceeded"] is False


def test_a_whole_night_above_its_limit_is_judged_exceeded_when_it_ends():
    chain = Chain()
    night = [64.0, 62.0, 60.0, 58.0, 50.0, 48.0, 47.0, 49.0, 52.0]
    chain.hours("2026-11-20", 21, night + [60.0])
    judged = chain.periods()[("qcvn26_2010", "night", at("2026-11-21", 6))]
    assert judged["laeq"] == pytest.approx(energy_mean(night), abs=0.1)
    assert judged["exceeded"] is True and judged["limit"] == 55.0


def test_qcvn26_2025_judges_nothing_while_its_clock_hours_and_areas_are_not_found(caplog):
    chain = Chain()
    assert "QCVN 26:2025/BNNMT: the periods' clock hours are not found" in caplog.text
    chain.hours("2027-01-01", 21, [75.0, 75.0, 60.0])  # 2027: QCVN 26:2025 in force
    assert chain.alerts_of() == [] and chain.periods() == {}


DEPARTMENT = {
    "about": "test: clock hours and an area as a department would enter them",
    "noise": {
        "time_periods": {"QCVN 26:2025/BNNMT": {
            "source": "test hours, not the regulation's", "confidence": "A",
            "periods": [{"name": "day", "from_hour": 6, "to_hour": 18},
                        {"name": "evening", "from_hour": 18, "to_hour": 22},
                        {"name": "night", "from_hour": 22, "to_hour": 6}]}},
        "stations": {STATION: [{"regulation": "QCVN 26:2025/BNNMT", "area": "D",
                                "from": "2025-11-14", "source": "test zoning"}]}}}


def test_qcvn26_2025_judges_an_evening_by_its_three_periods_with_the_departments_hours(
        tmp_path):
    path = tmp_path / "regulations.json"
    path.write_text(json.dumps(DEPARTMENT))
    chain = Chain(str(path))
    # area D: day 65, evening 60, night 55 dBA
    chain.hours("2026-11-20", 16, [63.0, 62.0, 66.0, 67.0, 64.0, 61.0, 58.0, 54.0, 50.0])
    events = [(a.tags["rule"], a.fields["event"], a.time) for a in chain.alerts_of()]
    assert events == [
        ("qcvn26_2025.laeq.evening", "open", at("2026-11-20", 19)),
        ("qcvn26_2025.laeq.evening", "close", at("2026-11-20", 23)),
        ("qcvn26_2025.laeq.night", "open", at("2026-11-20", 23)),
        ("qcvn26_2025.laeq.night", "close", at("2026-11-21", 1))]
    periods = chain.periods()
    evening = periods[("qcvn26_2025", "evening", at("2026-11-20", 22))]
    assert evening["laeq"] == pytest.approx(energy_mean([66.0, 67.0, 64.0, 61.0]), abs=0.1)
    assert evening["limit"] == 60 and evening["exceeded"] is True
    assert evening["hours_from"] == "test hours, not the regulation's (department)"
    assert periods[("qcvn26_2025", "day", at("2026-11-20", 18))]["limit"] == 65


@pytest.mark.parametrize("change, named", [
    ({"stations": {STATION: [{"regulation": "QCVN 26:2025/BNNMT", "area": "F",
                              "source": "x"}]}}, "noise.stations.pq-air-02[0].area"),
    ({"stations": {STATION: [{"regulation": "QCVN 26:2025/BNNMT", "area": "D"}]}},
     "noise.stations.pq-air-02[0].source"),
    ({"stations": {"pq-nowhere": []}}, "noise.stations.pq-nowhere"),
    ({"time_periods": {"QCVN 26:2025/BNNMT": {
        "source": "x", "confidence": "A",
        "periods": [{"name": "day", "from_hour": 6, "to_hour": 18},
                    {"name": "evening", "from_hour": 18, "to_hour": 23},
                    {"name": "night", "from_hour": 22, "to_hour": 6}]}}},
     "noise.time_periods.QCVN 26:2025/BNNMT.periods"),
])
def test_a_broken_noise_entry_in_the_departments_file_is_refused_naming_the_key(
        tmp_path, change, named):
    path = tmp_path / "regulations.json"
    path.write_text(json.dumps({"noise": change}))
    with pytest.raises(ValueError) as e:
        AlertsProcessor("phu-quoc", department=str(path))
    assert named in str(e.value)


def test_a_noise_regime_on_a_station_without_a_sound_meter_judges_nothing_and_says_so(
        tmp_path, caplog):
    path = tmp_path / "regulations.json"
    path.write_text(json.dumps({"noise": {"stations": {"pq-air-05": [
        {"regulation": "QCVN 26:2010/BTNMT", "area": "normal", "source": "test"}]}}}))
    chain = Chain(str(path))
    assert "station pq-air-05: the station carries no sound-level meter" in caplog.text
    chain.hours("2026-11-20", 21, [75.0, 75.0], station="pq-air-05")
    assert chain.alerts_of() == []


def test_a_station_gone_silent_has_its_last_period_judged_by_the_collectors_clock():
    chain = Chain()
    chain.hours("2026-11-20", 21, [64.0, 62.0, 60.0])  # then nothing: the station is down
    assert chain.periods() == {}
    end = at("2026-11-21", 6)
    soon = chain.alerts.tick(end + 60, {})  # not yet: a late record may still come
    assert [p for p in soon if p.measurement == "noise_period"] == []
    chain.alerts._next_tick = 0
    later = max(end + 7200 + 1, chain.alerts.started + 3 * 86400)  # silent, grace over
    got = [p for p in chain.alerts.tick(later, {}) if p.measurement == "noise_period"]
    (night,) = got
    assert (night.tags["period"], night.time, night.fields["n"], night.fields["expected"],
            night.fields["complete"]) == ("night", end, 3, 9, False)
    assert night.fields["laeq"] == pytest.approx(energy_mean([64.0, 62.0, 60.0]), abs=0.01)
    chain.alerts._next_tick = 0
    again = chain.alerts.tick(later + 60, {})
    assert [p for p in again if p.measurement == "noise_period"] == []  # judged once
