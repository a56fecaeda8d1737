"""Aggregates, indices and alerts end to end against the session's real Mosquitto and InfluxDB:
a station publishes an hour of SO2 far above QCVN 05:2023; the operator sees the hourly mean,
the hourly VN_AQI and an open `alert` in InfluxDB, the retained message on
quantrac/v1/alerts/<station>, and the webhook call. Then the station backfills an earlier hour
in two parts, and that hour's mean is recomputed."""

from __future__ import annotations

import json
import secrets
import time
import uuid

import pytest
from collector_live import WAIT_S, influxql, publish, retained_alert, wait_for
from loopback_peers import Webhook

from collector.config import Settings
from collector.pipeline import Collector

pytestmark = pytest.mark.services
STATION = "pq-air-14"  # no other test publishes for it: its retained alert topic is ours
H = 3600
SO2_UG = 200 * 64.07 / 24.45  # 200 ppb = 524.1 µg/Nm³, far above the 1-hour limit of 350


def records(start: int, count: int, so2_ppb: float, first: int = 0) -> list[dict]:
    """One message per 5-minute record, stamped at the end of its period."""
    boot = secrets.token_hex(4)
    return [{"v": 1, "st": STATION, "fw": "0.1.0", "boot": boot, "seq": i,
             "r": [{"t": start + 300 * (i + 1), "p": 300,
                    "d": {"so2": [so2_ppb + (i % 3) * 0.5, "ppb", 0, 30, 0],
                          "pm10": [40.0 + i % 2, "ug/m3", 0, 28, 0]}}]}
            for i in range(first, first + count)]


def one(env: dict, q: str) -> dict | None:
    rows = influxql(env, q)
    return rows[0] if rows else None


def test_an_hour_above_the_limit_gives_mean_aqi_and_an_alert_everywhere(services, tmp_path):
    env = services
    hook = Webhook()
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-alerts-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0},
                  "notify": {"webhook_url": hook.url, "retry_initial_s": 0.1}},
        "metrics": {"interval_s": 1.0}})
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        h0 = int(time.time()) // H * H - H  # the previous full hour
        end = h0 + H
        publish(env, STATION, records(h0, 12, 200.0))

        where = f"station = '{STATION}' AND param = 'so2' AND period = '1h' AND time = {end}s"
        wait_for(lambda: one(env, f"SELECT * FROM derived.mean WHERE {where}"), "the hourly mean")
        m = one(env, f"SELECT * FROM derived.mean WHERE {where}")
        assert (m["n"], m["expected"], m["complete"], m["unit"]) == (12, 12, True, "ug/Nm3")
        assert m["value"] == pytest.approx(SO2_UG + 0.5 * 64.07 / 24.45, rel=1e-3)

        alert_q = (f"SELECT * FROM derived.alert WHERE station = '{STATION}' "
                   f"AND rule = 'qcvn05.so2.1h' AND time = {end}s")
        wait_for(lambda: one(env, alert_q), "the alert point")
        a = one(env, alert_q)
        assert (a["state"], a["severity"], a["limit"], a["unit"]) == \
            ("open", "warning", 350.0, "ug/Nm3")
        assert "vượt giới hạn 350 µg/Nm³" in a["text"]

        hour_aqi = (f"SELECT * FROM derived.aqi WHERE station = '{STATION}' AND period = 'hour' "
                    f"AND time = {end}s")
        wait_for(lambda: one(env, hour_aqi), "the hourly AQI")
        assert one(env, hour_aqi)["sub_so2"] == 144  # 100 + 50 × (524.8 − 350) / 200

        wait_for(lambda: any(b["rule"] == "qcvn05.so2.1h" for b in hook.bodies), "the webhook")
        sent = next(b for b in hook.bodies if b["rule"] == "qcvn05.so2.1h")
        assert (sent["st"], sent["state"], sent["t"], sent["id"]) == \
            (STATION, "open", end, a["id"])
        retained = retained_alert(env, STATION)
        assert retained is not None and retained["id"] == a["id"]
        assert {"rule": "qcvn05.so2.1h", "id": a["id"], "since": end} in retained["open"]

        # The station backfills the hour before: 8 records first (an incomplete mean) ...
        earlier = f"station = '{STATION}' AND param = 'pm10' AND period = '1h' AND time = {h0}s"
        publish(env, STATION, records(h0 - H, 8, 10.0))
        wait_for(lambda: one(env, f"SELECT * FROM derived.mean WHERE {earlier}"),
                 "the earlier mean")
        first = one(env, f"SELECT * FROM derived.mean WHERE {earlier}")
        assert (first["n"], first["complete"]) == (8, False)
        # ... then the other 4: the same hour's mean is recomputed and now complete, and the
        # hourly AQI after it gains its PM NowCast (two hours of PM10)
        publish(env, STATION, records(h0 - H, 4, 10.0, first=8))
        wait_for(lambda: one(env, f"SELECT * FROM derived.mean WHERE {earlier}")["n"] == 12,
                 "the earlier hour's mean recomputed")
        assert one(env, f"SELECT * FROM derived.mean WHERE {earlier}")["complete"] is True
        wait_for(lambda: "aqi" in (one(env, hour_aqi) or {}) and
                 one(env, hour_aqi)["aqi"] is not None, "the AQI with PM NowCast")
        got = one(env, hour_aqi)
        assert (got["aqi"], got["dominant"], got["band"], got["sub_pm10"]) == \
            (144, "so2", "poor", 41)
        # the late SO2 of the earlier hour is under the limit and older than the alert:
        # the alert stays open, once
        assert len([b for b in hook.bodies if b["rule"] == "qcvn05.so2.1h"]) == 1
        wait_for(lambda: (tmp_path / "collector" / "status.json").exists(), "status.json")
    finally:
        c.stop()
        hook.close()
    status = json.loads((tmp_path / "collector" / "status.json").read_text())
    assert STATION in status["alerts_open"] and STATION in status["stats"]["stations"]
