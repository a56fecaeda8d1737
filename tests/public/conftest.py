"""Demo-like data written through the real pipeline (the collector, our own Mosquitto and
InfluxDB) into a database of this package's own, and the public server reading it with the
read-only account."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from collector.config import Settings, with_options
from collector.pipeline import Collector
from collector.services import influxdb
from quantrac_common import influxql

sys.path.insert(0, str(Path(__file__).parent.parent / "grafana"))
import network_day  # noqa: E402  (the grafana tests' signal shapes)
from public_site import AIR, STALE  # noqa: E402

STEP = 300
H = 3600
WATER = ("pq-tap-01", "pq-ww-02")  # pq-ww-02: NH4 above QCVN 14 column B at the end
WAIT_S = 150


def admin(env: dict[str, str], statement: str) -> None:
    auth = urllib.parse.urlencode({"u": env["QUANTRAC_INFLUX_ADMIN_USER"],
                                   "p": env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]})
    body = urllib.parse.urlencode({"q": statement}).encode()
    url = env["QUANTRAC_INFLUX_URL"].rstrip("/") + "/query?" + auth
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
        doc = json.load(r)
    err = doc.get("results", [{}])[0].get("error")
    if err:
        raise RuntimeError(f"{statement}: {err}")


def _messages(end: int) -> dict[str, list[tuple[str, dict]]]:
    start = end - 26 * H
    p = network_day.Plan(start, end, end)
    out: dict[str, list[tuple[str, dict]]] = {}
    for st in (*AIR, *WATER):
        last = end - 2 * H if st == STALE else end
        boot = uuid.uuid4().hex[:8]
        msgs: list[tuple[str, dict]] = [("status", {"v": 1, "st": st, "online": True,
                                                    "fw": "0.1.0", "boot": boot, "t": start})]
        t, seq = start + STEP, 0
        while t <= last:
            hour = []
            while t <= last and len(hour) < 12:
                if st in AIR:
                    d = network_day._air(t, p)
                    d["so2"][0] = 10.0  # keep SO2 low: PM sets the band
                    pm = AIR[st] + network_day._wave(t, 24, AIR[st] * 0.03)
                    d["pm2_5"] = [round(pm, 2), "ug/m3", 0, 28, 0]
                    d["pm10"] = [round(pm * 1.2, 2), "ug/m3", 0, 28, 0]
                else:
                    d = network_day._water(st, t, p)
                hour.append({"t": t, "p": STEP, "d": d})
                t += STEP
            msgs.append(("data", {"v": 1, "st": st, "fw": "0.1.0", "boot": boot, "seq": seq,
                                  "r": hour}))
            seq += 1
        # a health event: internal metrics (heap, RSSI) the public side must never show
        msgs.append(("event", {"v": 1, "st": st, "boot": boot, "ev": "health", "t": last,
                               "heap": 61000, "backlog": 0, "dropped": 0, "rssi": -61,
                               "uptime": last - start, "errors": {"modbus_timeout": 1}}))
        out[st] = msgs
    return out


def _publish(env: dict[str, str], messages: dict[str, list[tuple[str, dict]]]) -> None:
    for st, msgs in messages.items():
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"{st}-public-{uuid.uuid4().hex[:6]}")
        c.username_pw_set(env["QUANTRAC_MQTT_BENCH_USER"], env["QUANTRAC_MQTT_BENCH_PASSWORD"])
        c.max_inflight_messages_set(100)
        c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        c.loop_start()
        try:
            for info in [c.publish(f"quantrac/v1/{st}/{k}", json.dumps(d), qos=1)
                         for k, d in msgs]:
                info.wait_for_publish(30)
        finally:
            c.loop_stop()
            c.disconnect()


def _missing(env: dict[str, str], end: int) -> list[str]:
    def one(q: str) -> list[dict]:
        return influxql.rows(influxql.query(env, q))

    out = []
    for st in (*AIR, *WATER):
        last = end - 2 * H if st == STALE else end
        got = one(f"SELECT last(\"status\") FROM reading WHERE station = '{st}'")
        if not got or got[0]["time"] != last:
            out.append(f"{st} readings up to {last}")
    for st in AIR:
        if not one(f"SELECT aqi FROM derived.aqi WHERE station = '{st}' AND period = 'hour' "
                   "AND time > now() - 3h"):
            out.append(f"{st} hourly AQI")
    return out


@pytest.fixture(scope="package")
def public_db(services, tmp_path_factory):
    db = f"public_{uuid.uuid4().hex[:8]}"
    env = {**services, "QUANTRAC_INFLUX_DB": db}
    admin(env, f'CREATE DATABASE "{db}"')
    try:
        admin(env, f'GRANT WRITE ON "{db}" TO "{env["QUANTRAC_INFLUX_WRITE_USER"]}"')
        admin(env, f'GRANT READ ON "{db}" TO "{env["QUANTRAC_INFLUX_READ_USER"]}"')
        influxdb.apply_retention(env["QUANTRAC_INFLUX_URL"], (env["QUANTRAC_INFLUX_ADMIN_USER"],
                                 env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]), db)
        yield env
    finally:
        admin(env, f'DROP DATABASE "{db}"')


@pytest.fixture(scope="package")
def public_data(public_db, tmp_path_factory):
    """(env, run_dir): the pipeline has stored the demo-like day."""
    env = public_db
    run_dir = tmp_path_factory.mktemp("public-run")
    settings = with_options(Settings.from_env(env, run_dir=run_dir),
                            mqtt={"client_id": f"public-{uuid.uuid4().hex[:8]}"})
    end = int(time.time()) // 60 * 60
    # the broker is the session's: a retained status another test left (online false) would
    # be stored after this fixture's own and read as the station's state
    network_day.clear_station_state(env, (*AIR, *WATER))
    collector = Collector(settings)
    collector.start()
    missing: list[str] = []
    try:
        _publish(env, _messages(end))
        deadline = time.monotonic() + WAIT_S
        while (missing := _missing(env, end)) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        collector.stop()
        network_day.clear_station_state(env, (*AIR, *WATER))
    assert not missing, f"not stored after {WAIT_S} s: {missing}"
    return env, run_dir


@pytest.fixture
def server(public_data):
    """The public server on a free port, started and stopped by each test."""
    from public.serve import Background

    env, run_dir = public_data
    srv = Background(env, run_dir).start()
    try:
        yield srv
    finally:
        srv.stop()
