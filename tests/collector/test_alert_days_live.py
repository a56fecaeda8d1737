"""Daily limits judge whole days, through the real collector, Mosquitto and InfluxDB: a local
day whose first 18 hours of PM10 are above the 24-hour limit (100 µg/m³) but whose mean ends
below it opens no alert; after a collector restart, late records of that day lift it above the
limit, and the alert opens with the correction noted, in InfluxDB and in its message."""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from collector_live import BOOT, SEQ, influxql, publish, wait_for

from collector.config import Settings
from collector.pipeline import Collector

pytestmark = pytest.mark.services
STATION = "pq-air-09"  # no other test judges its alerts
RULE = "qcvn05.pm10.24h"
H = 3600
GRACE = 7200
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def past_day_end() -> int:
    """The local midnight ending a random past day (3 to 40 days ago: every record of it and
    of the grace after it is in the past, where the collector accepts it)."""
    day = datetime.now(VN).date() - timedelta(days=random.randint(3, 40))
    return int(datetime(day.year, day.month, day.day, tzinfo=VN).timestamp())


def hour(start: int, value: float) -> dict:
    """One message holding the hour's twelve 5-minute PM10 records (values alternate by 1,
    mean value + 0.5: no flat line)."""
    return {"v": 1, "st": STATION, "fw": "0.1.0", "boot": BOOT, "seq": next(SEQ),
            "r": [{"t": start + 300 * (k + 1), "p": 300,
                   "d": {"pm10": [value + k % 2, "ug/m3", 0, 28, 0]}} for k in range(12)]}


def rows(env: dict, q: str) -> list[dict]:
    return influxql(env, q)


def collector(env: dict, run_dir, client_id: str) -> Collector:
    settings = Settings.from_env(env, run_dir, {
        "sources": {"mqtt": {"client_id": client_id}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}},
        "processors": {"alerts": {"tick_s": 0.5, "day_grace_s": GRACE}}})
    return Collector(settings)


def test_a_day_judged_whole_then_corrected_by_late_records(services, tmp_path):
    env = services
    end = past_day_end()
    start = end - 24 * H
    client_id = f"test-days-{uuid.uuid4().hex[:8]}"
    where = f"station = '{STATION}' AND time = {end}s"
    day_mean = f"SELECT * FROM derived.mean WHERE {where} AND param = 'pm10' AND period = '24h'"
    verdict = f"SELECT * FROM derived.daily_limit WHERE {where} AND \"rule\" = '{RULE}'"
    alert = f"SELECT * FROM derived.alert WHERE {where} AND \"rule\" = '{RULE}'"

    c = collector(env, tmp_path, client_id)
    try:
        c.start()
        # the first 18 hours at 110.5: a complete running mean far above the limit
        publish(env, STATION, [hour(start + i * H, 110.0) for i in range(18)])
        wait_for(lambda: (rows(env, day_mean) or [{}])[0].get("n") == 18, "18 hours in")
        running = rows(env, day_mean)[0]
        assert (running["complete"], running["provisional"]) == (True, True)
        assert running["value"] == pytest.approx(110.5)
        # four more at 20.5, two hours missing: the day ends at 94.1, below the limit
        publish(env, STATION, [hour(start + i * H, 20.0) for i in range(18, 22)])
        # the station's records reach midnight + the grace: the day is over
        publish(env, STATION, [hour(end + GRACE, 30.0)])
        wait_for(lambda: rows(env, verdict), "the day's judgement")
        (v,) = rows(env, verdict)
        assert (v["verdict"], v["revision"], v["reason"], v["limit"]) == \
            ("within", 1, "day_over", 100.0)
        assert v["value"] == pytest.approx((18 * 110.5 + 4 * 20.5) / 22)
        assert rows(env, day_mean)[0]["provisional"] is False
        time.sleep(1.5)  # three ticks: nothing else is judged of this day
        assert rows(env, alert) == [], "an alert opened on a day whose mean ends below"
    finally:
        c.stop()

    c = collector(env, tmp_path, client_id)  # restarted: the judged day is remembered
    try:
        c.start()
        # a station back from an outage: its last two hours of that day arrive late, at 200.5
        publish(env, STATION, [hour(start + i * H, 200.0) for i in (22, 23)])
        wait_for(lambda: rows(env, alert), "the alert of the corrected day")
        (a,) = rows(env, alert)
        assert (a["state"], a["event"], a["correction"], a["revision"]) == \
            ("open", "open", "late_records", 2)
        assert a["previous"] == pytest.approx(v["value"])
        after = (18 * 110.5 + 4 * 20.5 + 2 * 200.5) / 24
        assert a["value"] == pytest.approx(after)
        local = datetime.fromtimestamp(start, VN).date().isoformat()
        assert f"Đính chính ngày {local}" in a["text"]
        assert f"Correction for {local}" in a["text_en"]
        (v2,) = rows(env, verdict)
        assert (v2["verdict"], v2["revision"], v2["reason"]) == ("above", 2, "late_records")
        assert v2["previous"] == pytest.approx(v["value"])
    finally:
        c.stop()
