"""The camera module in a running collector against the session's real Mosquitto and InfluxDB
and a camera stand-in serving JPEGs behind digest auth: an hour above the SO2 limit opens an
alert whose webhook notification carries the snapshot taken for it; the hour after closes it
with a second snapshot; `snapshot` and `camera` (reachability) points are in InfluxDB."""

from __future__ import annotations

import json
import secrets
import time
import uuid

import pytest
from collector_live import WAIT_S, influxql, publish, wait_for
from loopback_peers import CameraPeer, Webhook

import boards
from collector.config import Settings
from collector.pipeline import Collector

pytestmark = pytest.mark.services
STATION = "pq-air-15"  # no registry camera: this test adds one with [camera] snapshot_urls
CAMERA_STATIONS = [STATION, *(s.id for s in boards.registry().stations if "camera" in s.raw)]
H = 3600


def hour(start: int, so2_ppb: float, boot: str, first_seq: int) -> list[dict]:
    return [{"v": 1, "st": STATION, "fw": "0.1.0", "boot": boot, "seq": first_seq + i,
             "r": [{"t": start + 300 * (i + 1), "p": 300,
                    "d": {"so2": [so2_ppb, "ppb", 0, 30, 0],
                          "pm10": [40.0, "ug/m3", 0, 28, 0]}}]} for i in range(12)]


def test_an_alert_notification_carries_the_snapshot_taken_for_it(services, tmp_path):
    env, started = services, int(time.time())
    cam, hook = CameraPeer(), Webhook()
    creds = tmp_path / "cameras.json"
    creds.write_text(json.dumps({STATION: {"user": cam.user, "password": cam.password}}))
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-camera-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0},
                  "notify": {"webhook_url": hook.url, "retry_initial_s": 0.1}},
        "camera": {"enabled": True, "secrets": str(creds),
                   # Every registry camera points at the loopback stand-in too: a stray alert
                   # (a retained last will from another test) must never reach a field address.
                   "snapshot_urls": [f"{st}={cam.url}" for st in CAMERA_STATIONS],
                   "interval_s": 0,
                   "retry_initial_s": 0.1, "retry_max_s": 1.0}})
    h0 = int(time.time()) // H * H - 2 * H
    boot = secrets.token_hex(4)
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, STATION, hour(h0, 200.0, boot, 0))  # 524 µg/Nm³: above 350
        wait_for(lambda: any(b["event"] == "open" and b["rule"] == "qcvn05.so2.1h"
                             for b in hook.bodies), "the alert's webhook call")
        publish(env, STATION, hour(h0 + H, 5.0, boot, 12))  # back to clean air
        wait_for(lambda: any(b["event"] == "close" and b["rule"] == "qcvn05.so2.1h"
                             for b in hook.bodies), "the recovery's webhook call")
        wait_for(lambda: len(influxql(env, f"SELECT * FROM snapshot WHERE station = "
                                           f"'{STATION}' AND time >= {started}s")) == 2,
                 "the two snapshot points")
    finally:
        c.stop()
        cam.close()
        hook.close()
    by = {b["event"]: b for b in hook.bodies if b["rule"] == "qcvn05.so2.1h"}
    opened, closed = by["open"]["snapshot"], by["close"]["snapshot"]
    folder = tmp_path / "collector" / "camera"
    assert opened["path"].startswith(f"{STATION}/") and opened["reason"] == "alert-open"
    assert (folder / opened["path"]).read_bytes() == cam.images[0]
    assert (folder / closed["path"]).read_bytes() == cam.images[1]
    rows = influxql(env, f"SELECT * FROM snapshot WHERE station = '{STATION}' "
                         f"AND time >= {started}s")
    assert {(r["reason"], r["path"], r["alert"]) for r in rows} == {
        ("alert-open", opened["path"], by["open"]["id"]),
        ("alert-close", closed["path"], by["close"]["id"])}
    health = influxql(env, f"SELECT * FROM camera WHERE station = '{STATION}' "
                           f"AND time >= {started}s")
    assert health and all(r["reachable"] is True and r["latency_s"] >= 0 for r in health)
