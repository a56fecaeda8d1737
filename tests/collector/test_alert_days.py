"""24-hour limits are judged on whole local days (Asia/Ho_Chi_Minh), once the day is over
plus `day_grace_s`; a record of a judged day arriving later judges it again, and the
correction (revision, the mean it replaces, why) is in the `daily_limit` point and in the
alert. The stage alone here; through the real broker and InfluxDB in test_alert_days_live.py."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import fastjsonschema
import pytest

from collector.contracts import Batch, Envelope, Point, Reading
from collector.processors.alerts.plugin import AlertsProcessor
from quantrac_common.paths import PROTOCOL_SCHEMA

H = 3600
VN = ZoneInfo("Asia/Ho_Chi_Minh")
END = int(datetime(2025, 11, 22, tzinfo=VN).timestamp())  # the end of 21 Nov, local
GRACE = 7200
STATION = "pq-air-02"
RULE = "qcvn05.pm10.24h"  # PM10 24 h: 100 µg/m³
SCHEMA = json.loads(PROTOCOL_SCHEMA.read_text())
ALERT = fastjsonschema.compile({**SCHEMA, "$ref": "#/definitions/alert"})


def day_mean(value: float, complete: bool = True, end: int = END) -> Point:
    return Point("mean", {"station": STATION, "kind": "air", "param": "pm10", "unit": "ug/m3",
                          "period": "24h"}, {"value": value, "n": 18, "expected": 24,
                                             "complete": complete}, end)


def record(t: int) -> Reading:
    return Reading(STATION, "air", "pm10", "ug/m3", t, 30.0, 0)


class Clock:
    """The stage as the pipeline drives it: batches, and a tick every `tick_s` of wall time."""

    def __init__(self, stage: AlertsProcessor, now: float) -> None:
        self.stage, self.now = stage, now

    def batch(self, points=(), readings=()) -> list[Point]:
        envs = [Envelope(f"quantrac/v1/{STATION}/data", b"{}", self.now)]
        b = self.stage.process(Batch(envs, readings=list(readings), points=list(points)))
        return [p for p in b.points if p.measurement in ("alert", "daily_limit")]

    def ticks(self, n: int = 2) -> list[Point]:
        out = []
        for _ in range(n):
            self.now += self.stage.tick_s
            out += [p for p in self.stage.tick(self.now, {"stations": {}})
                    if p.station == STATION and p.measurement in ("alert", "daily_limit")]
        return out


def alerts(points: list[Point]) -> list[Point]:
    out = [p for p in points if p.measurement == "alert" and p.tags["rule"] == RULE]
    for a in out:
        ALERT(a.note)
    return out


def verdicts(points: list[Point]) -> list[Point]:
    return [p for p in points if p.measurement == "daily_limit" and p.tags["rule"] == RULE]


@pytest.fixture
def clock() -> Clock:
    stage = AlertsProcessor("phu-quoc", tick_s=1.0, day_grace_s=GRACE)
    stage.started = END - 7 * H  # wall time: the station reports live
    return Clock(stage, END - 6 * H)


def test_the_running_mean_of_an_unfinished_day_opens_nothing(clock):
    # 18 complete hours at 120: the old stage opened the alert here
    assert alerts(clock.batch([day_mean(120.0)], [record(END - 6 * H)])) == []
    assert alerts(clock.ticks()) == []
    clock.batch([day_mean(90.0)], [record(END)])  # the day ends at 90
    clock.now = END + H
    clock.batch([], [record(END + H)])  # midnight passed, grace not yet
    assert clock.ticks() == []
    clock.now = END + GRACE
    clock.batch([], [record(END + GRACE)])  # the station's records reach midnight + grace
    got = clock.ticks()
    assert alerts(got) == []
    (v,) = verdicts(got)
    assert v.time == END and v.fields["day"] == "2025-11-21"
    assert (v.fields["verdict"], v.fields["value"], v.fields["limit"], v.fields["revision"],
            v.fields["reason"]) == ("within", 90.0, 100.0, 1, "day_over")
    assert clock.ticks() == []  # judged once


def test_a_late_record_that_lifts_a_judged_day_opens_the_alert_with_the_correction(clock):
    clock.batch([day_mean(95.0)], [record(END), record(END + GRACE)])
    (v,) = verdicts(clock.ticks())
    assert v.fields["verdict"] == "within"
    # the station is back from an outage: a late record of that day lifts its mean
    clock.batch([day_mean(104.0)], [record(END - 2 * H)])
    got = clock.ticks()
    (v2,) = verdicts(got)
    assert (v2.time, v2.fields["verdict"], v2.fields["revision"], v2.fields["reason"],
            v2.fields["previous"]) == (END, "above", 2, "late_records", 95.0)
    (a,) = alerts(got)
    assert (a.fields["state"], a.time, a.fields["correction"], a.fields["previous"]) == \
        ("open", END, "late_records", 95.0)
    assert a.note["correction"] == {"revision": 2, "reason": "late_records",
                                    "day": "2025-11-21", "previous": 95.0}
    assert "Đính chính ngày 2025-11-21" in a.note["text_vi"] and "trước đó 95" in a.note["text_vi"]
    assert "Correction for 2025-11-21" in a.note["text_en"] and "was 95" in a.note["text_en"]


def test_a_silent_station_has_its_day_judged_by_the_collectors_clock(clock):
    clock.batch([day_mean(130.0)], [record(END - 3 * H)])  # then nothing: an outage
    clock.now = END + GRACE - 60
    assert clock.ticks() == []
    clock.now = END + GRACE
    got = clock.ticks()
    (v,) = verdicts(got)
    assert (v.fields["verdict"], v.fields["reason"]) == ("above", "station_silent")
    (a,) = alerts(got)
    assert a.fields["state"] == "open" and "correction" not in a.fields


def test_a_day_still_streaming_in_is_judged_once_it_settles(clock):
    # a backlog behind newer live data: the clock is past, the day's records keep coming
    clock.batch([], [record(END + 3 * GRACE)])
    clock.batch([day_mean(120.0)], [record(END - 8 * H)])
    clock.now += 0.5
    assert verdicts(clock.ticks(1)) == []  # it changed since the last look
    clock.batch([day_mean(99.0)], [record(END - 1)])
    clock.now += 0.5
    assert verdicts(clock.ticks(1)) == []
    (v,) = verdicts(clock.ticks(1))
    assert (v.fields["verdict"], v.fields["value"]) == ("within", 99.0)


def test_an_incomplete_day_is_judged_incomplete_and_opens_nothing(clock):
    clock.batch([day_mean(300.0, complete=False)], [record(END + GRACE)])
    got = clock.ticks()
    assert alerts(got) == [] and verdicts(got)[0].fields["verdict"] == "incomplete"


def test_a_judged_day_survives_a_restart(clock):
    clock.batch([day_mean(95.0)], [record(END), record(END + GRACE)])
    clock.ticks()
    saved = json.loads(json.dumps(clock.stage.state()))
    again = AlertsProcessor("phu-quoc", tick_s=1.0, day_grace_s=GRACE)
    again.restore(saved)
    later = Clock(again, clock.now)
    later.batch([day_mean(101.0)], [record(END - H)])
    got = later.ticks()
    (v,) = verdicts(got)
    assert (v.fields["revision"], v.fields["previous"]) == (2, 95.0)
    assert alerts(got)[0].fields["state"] == "open"


def test_a_correction_of_an_older_day_opens_its_alert_until_a_day_within_closes_it(clock):
    nxt = END + 24 * H
    clock.batch([day_mean(95.0), day_mean(80.0, end=nxt)], [record(nxt + GRACE)])
    assert alerts(clock.ticks()) == []
    clock.batch([day_mean(110.0)], [record(END - H)])  # the older day, now above
    (a,) = alerts(clock.ticks())
    assert (a.fields["state"], a.time, a.fields["revision"]) == ("open", END, 2)
    third = nxt + 24 * H
    clock.batch([day_mean(70.0, end=third)], [record(third + GRACE)])
    (c,) = alerts(clock.ticks())
    assert (c.fields["state"], c.fields["id"]) == ("closed", a.fields["id"])


def test_a_state_saved_before_days_were_judged_whole_still_restores(clock):
    old = {"v": 1, "alerts": {}, "last_data": {STATION: 1.0}}
    clock.stage.restore(old)
    assert clock.stage.last_data == {STATION: 1.0}


@pytest.mark.parametrize("day_end, verdict, limit", [
    (END, "within", 50.0),  # QCVN 05:2023 PM2.5 24 h: 50 µg/m³ ...
    (int(datetime(2026, 1, 2, tzinfo=VN).timestamp()), "above", 45.0)])  # ... 45 from 2026
def test_a_day_of_pm2_5_at_48_is_judged_against_the_limit_of_its_year(day_end, verdict, limit):
    stage = AlertsProcessor("phu-quoc", tick_s=1.0, day_grace_s=GRACE)
    stage.started = day_end - 7 * H
    clock = Clock(stage, day_end - 6 * H)
    pm = Point("mean", {"station": STATION, "kind": "air", "param": "pm2_5", "unit": "ug/m3",
                        "period": "24h"}, {"value": 48.0, "n": 24, "expected": 24,
                                           "complete": True}, day_end)
    clock.batch([pm], [record(day_end), record(day_end + GRACE)])
    got = clock.ticks()
    (v,) = [p for p in got if p.measurement == "daily_limit"
            and p.tags["rule"] == "qcvn05.pm2_5.24h"]
    assert (v.fields["verdict"], v.fields["limit"]) == (verdict, limit)
    opened = [p for p in got if p.measurement == "alert"
              and p.tags["rule"] == "qcvn05.pm2_5.24h"]
    assert len(opened) == (verdict == "above")
    for a in opened:
        assert "PM2.5" in a.note["text_vi"] and "PM2.5" in a.note["text_en"]
