"""Invalid data are never shown and unapproved data are marked preliminary: a sensor in device
error leaves its hours out, an operator's flag takes its hours away, an approved day loses
`preliminary` (page and API alike)."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from public_site import get

from collector.review import marks
from public import facts
from public.serve import Background
from quantrac_common import influxql

TZ = ZoneInfo(facts.network().timezone)


def _hours(url: str) -> dict[int, dict]:
    code, _, body = get(url)
    assert code == 200, body
    return {p["time"]: p for p in json.loads(body)["points"]}


def test_hours_of_a_sensor_in_device_error_are_never_shown(server, public_data):
    env, _ = public_data
    # the data put pq-air-01's TSP in device error (status 02) 6 to 8 hours before the end
    bad = influxql.rows(influxql.query(env, "SELECT \"value\", \"status\" FROM reading WHERE "
                                       "station = 'pq-air-01' AND param = 'tsp' AND "
                                       "\"status\" = 2"))
    assert len(bad) >= 12 and all(r["value"] is not None for r in bad)  # stored, with values
    shown = _hours(f"{server.url}/api/v1/stations/pq-air-01/hourly?param=tsp")
    assert shown
    hours_in_error = {r["time"] - r["time"] % 3600 + 3600 for r in bad}
    whole = [h for h in hours_in_error
             if sum(1 for r in bad if h - 3600 < r["time"] <= h) == 12]
    assert whole, "no clock hour entirely in device error"
    assert not set(whole) & set(shown), "an hour of device-error readings was published"
    assert any(t < min(whole) for t in shown) and any(t > max(whole) for t in shown)


def test_a_flag_hides_its_hours_and_an_approval_lifts_preliminary(public_data):
    env, run_dir = public_data
    now = int(time.time())
    yesterday = (datetime.fromtimestamp(now, TZ) - timedelta(days=1)).date()
    url_of = "{}/api/v1/stations/pq-air-03/hourly?param=pm10&from={}&to={}"
    day_start = int(datetime.combine(yesterday, datetime.min.time(), TZ).timestamp())
    day_end = day_start + 86400
    srv = Background(env, run_dir).start()
    try:
        before = _hours(url_of.format(srv.url, day_start, day_end))
    finally:
        srv.stop()
    assert len(before) >= 3 and all(p["preliminary"] for p in before.values())
    hours = sorted(before)[:2]
    f = marks.path(run_dir)
    marks.append(f, marks.flag("pq-air-03", "pm10", hours[0] - 3600, hours[1], "inlet clogged",
                               "tester", now, TZ))
    marks.append(f, marks.approve("pq-air-03", yesterday, "tester", now, TZ))
    srv = Background(env, run_dir).start()
    try:
        after = _hours(url_of.format(srv.url, day_start, day_end))
        other = _hours(f"{srv.url}/api/v1/stations/pq-air-03/hourly?param=pm2_5&from="
                       f"{day_start}&to={day_end}")
    finally:
        srv.stop()
    assert not set(hours) & set(after)  # the flagged hours are gone
    assert set(after) == set(before) - set(hours)
    assert all(p["preliminary"] is False for p in after.values())  # the day is approved
    assert set(hours) <= set(other)  # another parameter of those hours still shows
