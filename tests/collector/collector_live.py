"""Helpers for tests against the session's real Mosquitto and InfluxDB: publish as a station,
query as the read-only user, wait with a generous timeout."""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from urllib.parse import urlencode
from urllib.request import urlopen

import paho.mqtt.client as mqtt

WAIT_S = 30.0
BOOT = uuid.uuid4().hex[:8]  # this test process's "boot": with SEQ it names each message
SEQ = itertools.count(1)


def clear_all_retained(env: dict[str, str], settle_s: float = 0.5) -> int:
    """Empty every retained message under quantrac/v1/ on the session's broker (what other
    tests' stations, collectors, forecasters and operators left), each with the account that
    may publish there; how many. A collector started next receives none of them."""
    import threading
    import uuid as _uuid

    import paho.mqtt.client as mqtt

    found: set[str] = set()
    subscribed = threading.Event()

    def client(user_key: str) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"clear-{_uuid.uuid4().hex[:6]}")
        c.username_pw_set(env[f"QUANTRAC_MQTT_{user_key}_USER"],
                          env[f"QUANTRAC_MQTT_{user_key}_PASSWORD"])
        c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        c.loop_start()
        return c

    reader = client("COLLECTOR")
    reader.on_message = lambda c, u, m: m.retain and m.payload and found.add(m.topic)
    reader.on_subscribe = lambda *a: subscribed.set()
    reader.subscribe("quantrac/v1/#", qos=1)
    subscribed.wait(10)
    time.sleep(settle_s)
    reader.loop_stop()
    reader.disconnect()

    def account(topic: str) -> str:
        parts = topic.split("/")
        if parts[2] == "alerts":
            return "FORECAST" if parts[-1] == "forecast" else "COLLECTOR"
        return "BENCH" if parts[3] in ("data", "status", "event") else "OPERATOR"

    by: dict[str, list[str]] = {}
    for topic in found:
        by.setdefault(account(topic), []).append(topic)
    for key, topics in by.items():
        c = client(key)
        try:
            for topic in topics:
                c.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
        finally:
            c.loop_stop()
            c.disconnect()
    return len(found)


def own_acked(stats: dict, station: str) -> int:
    """The collector's acknowledgements less every other station's messages: on the session's
    broker a collector also receives (and acknowledges) retained status other tests left."""
    others = sum(v.get("messages", 0) + v.get("status", 0) + v.get("event", 0)
                 for k, v in stats["stations"].items() if k != station)
    return stats["totals"]["acked"] - others


def wait_for(predicate, what, timeout: float = WAIT_S) -> None:
    """Poll `predicate`; `what` names it (a callable: a message made at the timeout)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def unique_time() -> int:
    """A record time no other test uses: recent (the future check) but random to the second."""
    return int(time.time()) - random.randint(3600, 30 * 86400)


def message(station: str, t: int, seq: int | None = None, **params) -> dict:
    """A data message with its own (boot, seq), as a station numbers them."""
    d = params or {"so2": [12.5, "ppb", 0, 30, 0],
                   "pm10": [35.1, "ug/m3", 0, 28, 2, 30.2, 41.0],
                   "co": [None, "ppm", 2, 0, 4]}
    return {"v": 1, "st": station, "fw": "0.1.0", "boot": BOOT,
            "seq": next(SEQ) if seq is None else seq, "r": [{"t": t, "p": 300, "d": d}]}


def bench_login(env: dict) -> tuple[str, str]:
    """The test stack's `bench` account: it publishes as any station (a station's own login
    only works under the station's own client id, which a running board may hold)."""
    return env["QUANTRAC_MQTT_BENCH_USER"], env["QUANTRAC_MQTT_BENCH_PASSWORD"]


def publish(env: dict, station: str, payloads: list[bytes | dict], kind: str = "data") -> None:
    """Publish at QoS 1 to the station's `kind` topic; wait for every PUBACK."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"{station}-t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(*bench_login(env))
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


def publish_many(env: dict, station: str, payloads: list[bytes | dict],
                 kind: str = "data") -> None:
    """Publish fast at QoS 1 (many in flight) and return once the broker acknowledged all."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"{station}-m-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(*bench_login(env))
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    client.loop_start()
    try:
        infos = [client.publish(f"quantrac/v1/{station}/{kind}",
                                p if isinstance(p, bytes) else json.dumps(p).encode(), qos=1)
                 for p in payloads]
        deadline = time.monotonic() + WAIT_S * 4
        for info in infos:
            info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
        assert all(i.is_published() for i in infos), "the broker did not acknowledge them all"
    finally:
        client.disconnect()
        client.loop_stop()


def counts(env: dict, t_from: int, t_to: int) -> dict[tuple[str, str], int]:
    """Points stored between two record times (inclusive), per (station, param)."""
    query = urlencode({"db": env["QUANTRAC_INFLUX_DB"], "epoch": "s",
                       "q": f"SELECT count(status) FROM reading WHERE time >= {t_from}s AND "
                            f"time <= {t_to}s GROUP BY station, param",
                       "u": env["QUANTRAC_INFLUX_READ_USER"],
                       "p": env["QUANTRAC_INFLUX_READ_PASSWORD"]})
    with urlopen(f"{env['QUANTRAC_INFLUX_URL']}/query?{query}", timeout=WAIT_S) as answer:
        doc = json.loads(answer.read())
    return {(sr["tags"]["station"], sr["tags"]["param"]): sr["values"][0][1]
            for sr in doc["results"][0].get("series", [])}


def free_window(env: dict, span: int) -> int:
    """The start of `span` seconds of record time, within the last year, that hold no point
    yet: tests that count points own their window. A year, not weeks: other tests write whole
    days and months of history for the same stations (bulletins, daily judging, HIL), and a
    multi-day window among the last 40 days was found taken in a full run."""
    for _ in range(50):
        start = int(time.time()) - random.randint(2 * span, 365 * 86400) // 300 * 300
        if not counts(env, start, start + span):
            return start
    raise AssertionError("no free window of record time found")


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


def retained_alert(env: dict, station: str) -> dict | None:
    """Subscribe as the operator, as a dashboard would, and read the station's retained alert."""
    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"op-t-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                           env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    client.on_message = lambda c, u, m: got.append(m.payload) if m.retain else None
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"quantrac/v1/alerts/{station}", 1)
    client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    client.loop_start()
    try:
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return json.loads(got[-1]) if got else None


def assert_exactly_once(env: dict, stream) -> None:
    """Every message a StationStream sent is in the database once (counted by InfluxQL)."""
    want = stream.expected()
    assert sum(want.values()) > 100, "the stream hardly ran"
    wait_for(lambda: counts(env, stream.t0, stream.t_last) == want,
             lambda: f"every message stored once: got {counts(env, stream.t0, stream.t_last)}, "
                     f"want {want}", timeout=120)
