"""VN_WQI only where Decision 1460 applies, end to end against the session's real Mosquitto and
InfluxDB: an hour of pH, DO, temperature and NH4 from the raw-water source (pq-tap-02, surface
water) and from a treatment plant (pq-tap-01, tap water) go through the broker and the
collector; only the raw water gets a `wqi` point, and with too few groups for the official
index that point holds the indicative value in its own field, never `wqi`."""

from __future__ import annotations

import secrets
import uuid

import pytest
from collector_live import WAIT_S, influxql, publish, unique_time, wait_for

from collector.config import Settings
from collector.pipeline import Collector

pytestmark = pytest.mark.services
H = 3600


def hour_of_water(station: str, start: int) -> list[dict]:
    boot = secrets.token_hex(4)
    return [{"v": 1, "st": station, "fw": "0.1.0", "boot": boot, "seq": i,
             "r": [{"t": start + 300 * (i + 1), "p": 300,
                    "d": {"ph": [7.2, "pH", 0, 30, 0], "temp": [28.0, "degC", 0, 30, 0],
                          "do": [7.0, "mg/L", 0, 30, 0], "nh4": [0.1, "mg/L", 0, 30, 0],
                          "tss": [5.0, "mg/L", 0, 30, 0]}}]}
            for i in range(12)]


def test_the_raw_water_source_gets_an_indicative_wqi_and_the_treatment_plant_none(
        services, tmp_path):
    env = services
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-wqi-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}}})
    c = Collector(settings)
    h0 = unique_time() // H * H
    end = h0 + H
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, "pq-tap-01", hour_of_water("pq-tap-01", h0))
        publish(env, "pq-tap-02", hour_of_water("pq-tap-02", h0))

        def wqi(station: str) -> list[dict]:
            return influxql(env, f"SELECT * FROM derived.wqi WHERE station = '{station}' "
                                 f"AND time = {end}s")

        wait_for(lambda: wqi("pq-tap-02"), "pq-tap-02's wqi point")
        (raw,) = wqi("pq-tap-02")
        assert raw.get("wqi") is None and raw["status"] == "not_computed"
        assert raw["indicative_wqi"] == 100 and raw["indicative_class"] == "very_good"
        assert raw["why"].startswith("data sufficiency not met")
        # the treatment plant's hour went through the same chain before it
        mean = influxql(env, "SELECT value FROM derived.mean WHERE station = 'pq-tap-01' AND "
                             f"param = 'ph' AND period = '1h' AND time = {end}s")
        assert mean and mean[0]["value"] == pytest.approx(7.2)
        assert wqi("pq-tap-01") == []
    finally:
        c.stop()
