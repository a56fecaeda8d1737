"""The daily volume of an outfall, stored by the running collector: a known day of flow
records published as the station would (real Mosquitto) lands in the real InfluxDB as the
local day's volume, beside the day's mean flow."""

from __future__ import annotations

import random
import time
import uuid

import pytest
from collector_live import BOOT, SEQ, influxql, publish, wait_for

from collector.config import Settings

pytestmark = pytest.mark.services

STATION = "pq-ww-02"
LOCAL_MIDNIGHT_UTC_HOUR = 17  # 00:00 in Asia/Ho_Chi_Minh (UTC+7)


def free_local_day(env: dict) -> int:
    """The UTC epoch of a local midnight 3..35 days ago whose day holds no reading yet."""
    for _ in range(30):
        days = random.randint(3, 35)
        start = (int(time.time()) // 86400 - days) * 86400 + LOCAL_MIDNIGHT_UTC_HOUR * 3600
        if not influxql(env, f"SELECT count(status) FROM reading WHERE station = '{STATION}' "
                             f"AND time > {start}s AND time <= {start + 86400}s"):
            return start
    raise AssertionError("no free local day")


def test_a_known_day_of_flow_is_stored_as_its_daily_volume(services, tmp_path, collectors):
    env = services
    start = free_local_day(env)
    # 5-minute records: 40 m3/h from 00:00 to 06:00, 100 until 18:00, 60 until midnight
    flows = [40.0 if i < 72 else 100.0 if i < 216 else 60.0 for i in range(288)]
    messages = [{"v": 1, "st": STATION, "fw": "0.1.0", "boot": BOOT, "seq": next(SEQ),
                 "r": [{"t": start + 300 * (i + 1), "p": 300,
                        "d": {"flow": [flows[i], "m3/h", 0, 30, 0]}}
                       for i in range(h * 12, h * 12 + 12)]}
                for h in range(24)]
    collectors(Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-{uuid.uuid4().hex[:8]}"}}}))
    publish(env, STATION, messages)
    end = start + 86400
    where = f"station = '{STATION}' AND period = '24h' AND time = {end}s"

    def volume() -> list[dict]:
        rows = influxql(env, f"SELECT * FROM derived.mean WHERE {where} AND param = 'volume'")
        return [r for r in rows if r.get("n") == 24]

    wait_for(volume, "the day's volume with all 24 hours")
    (v,) = volume()
    assert v["value"] == pytest.approx(1800.0)  # 6 × 40 + 12 × 100 + 6 × 60 m³
    assert (v["unit"], v["kind"], v["complete"], v["measured"]) == \
        ("m3", "wastewater", True, pytest.approx(1800.0))
    (mean,) = influxql(env, f"SELECT * FROM derived.mean WHERE {where} AND param = 'flow'")
    assert mean["value"] == pytest.approx(75.0)
