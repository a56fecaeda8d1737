"""Helpers for tests against the session's real Mosquitto and InfluxDB: publish as a station,
query as the read-only user, wait with a generous timeout."""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import paho.mqtt.client as mqtt

WAIT_S = 30.0


def wait_for(predicate, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def unique_time() -> int:
    """A record time no other test uses: recent (the future check) but random to the second."""
    return int(time.time()) - random.randint(3600, 30 * 86400)


def message(station: str, t: int, seq: int = 1, **params) -> dict:
    d = params or {"so2": [12.5, "ppb", 0, 30, 0],
                   "pm10": [35.1, "ug/m3", 0, 28, 2, 30.2, 41.0],
                   "co": [None, "ppm", 2, 0, 4]}
    return {"v": 1, "st": station, "fw": "0.1.0", "boot": "9f2c4a1e", "seq": seq,
            "r": [{"t": t, "p": 300, "d": d}]}


def publish(env: dict, station: str, payloads: list[bytes | dict], kind: str = "data") -> None:
    """Publish at QoS 1 as the station itself to its `kind` topic; wait for every PUBACK."""
    password = json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())[station]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"{station}-t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(station, password)
    client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    client.loop_start()
    try:
        for p in payloads:
            body = p if isinstance(p, bytes) else json.dumps(p).encode()
            info = client.publish(f"quantrac/v1/{station}/{kind}", body, qos=1)
            info.wait_for_publish(timeout=WAIT_S)
            assert info.is_published(), f"broker did not acknowledge {body[:60]!r}"
    finally:
        client.disconnect()
        client.loop_stop()


def influxql(env: dict, q: str) -> list[dict]:
    """Rows of the first series as dicts (time in epoch seconds), queried as the reader."""
    query = urlencode({"db": env["QUANTRAC_INFLUX_DB"], "q": q, "epoch": "s",
                       "u": env["QUANTRAC_INFLUX_READ_USER"],
                       "p": env["QUANTRAC_INFLUX_READ_PASSWORD"]})
    with urlopen(f"{env['QUANTRAC_INFLUX_URL']}/query?{query}", timeout=WAIT_S) as answer:
        doc = json.loads(answer.read())
    rows = []
    for series in doc["results"][0].get("series", []):
        for values in series["values"]:
            rows.append(dict(zip(series["columns"], values, strict=True)))
    return rows


def points(env: dict, station: str, t: int) -> dict[str, dict]:
    rows = influxql(env, f"SELECT * FROM reading WHERE station = '{station}' AND time = {t}s")
    return {r["param"]: r for r in rows}
