"""`quantrac bench latency`: from a station's publish to the point being queryable, and to an
alert being published, at the network's nominal load and at 100× that load.

Nominal load: 26 stations × one message per 5 minutes. A probe station (`pq-air-01`) publishes
one record at a time (QoS 1) and the clock runs from just before `publish()` until
  - queryable: an InfluxQL `count(status)` for that station and record time answers non-zero
    (polled every 5 ms as the reader, like a dashboard would);
  - alert: the alert message for that record time arrives on `quantrac/v1/alerts/pq-air-01`.
The alert comes from the shipped `sensor_error` rule (device status 02 lasting `pending_s`,
600 s of record time): the probe's CO sensor reports status 02 in records 0, 1, 2 of every
4 (5 minutes apart) and 0 in record 3, so record 2 opens `sensor_error.co` and record 3 closes
it: two alert transitions per four probes, each caused by exactly one message.
The other stations publish the background load (protocol-v1 messages from real station
logins, `quantrac.bench.stream`). The probe runs back to back, so it adds at most a few
messages per second on top of the load; say so when quoting the nominal figure.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as mqtt

from quantrac.bench import common
from quantrac.bench.stream import StationStream
from quantrac_common import influxql

PROBE = "pq-air-01"
NOMINAL_PERIOD_S = 300.0  # each station reports once every 5 minutes


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q / 100 * len(xs) + 0.5) - 1))]


class AlertWatch:
    """Arrival times of the probe's alert messages, by record time."""

    def __init__(self, env: dict) -> None:
        self.arrived: dict[int, float] = {}
        self.ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"bench-alerts-{uuid.uuid4().hex[:6]}")
        self.c.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                               env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
        self.c.on_message = self._on_message
        self.c.on_subscribe = lambda *_a: self.ready.set()
        self.c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        self.c.loop_start()
        self.c.subscribe(f"quantrac/v1/alerts/{PROBE}", qos=1)
        if not self.ready.wait(common.WAIT_S):
            raise common.BenchError("no subscription to the alerts topic")

    def _on_message(self, _c, _u, msg) -> None:
        now = time.monotonic()
        try:
            t = json.loads(msg.payload)["t"]
        except (ValueError, KeyError, TypeError):
            return
        self.arrived.setdefault(t, now)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _queryable(env: dict, t: int) -> bool:
    s = influxql.query(env, f"SELECT count(status) FROM reading WHERE station = '{PROBE}' "
                            f"AND time = {t}s")
    return bool(s)


def probe(env: dict, seconds: float, t0: int, alerts: AlertWatch) -> dict:
    params = common.params_of(PROBE)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"bench-{PROBE}-probe-{uuid.uuid4().hex[:6]}")
    client.username_pw_set(*common.bench_login(env))
    client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    client.loop_start()
    boot, stored, alerted, missed = uuid.uuid4().hex[:8], [], [], 0
    end, i = time.monotonic() + seconds, 0
    try:
        while time.monotonic() < end or i % 4:  # whole cycles: the next load starts clean
            t = t0 + 300 * i
            rec = common.record(PROBE, t, i, params=params)
            rec["d"]["co"][2] = 2 if i % 4 < 3 else 0
            body = json.dumps(common.message(PROBE, boot, i, [rec]))
            sent = time.monotonic()
            client.publish(f"quantrac/v1/{PROBE}/data", body, qos=1)
            common.wait_for(lambda t=t: _queryable(env, t), f"record {t} queryable", 60)
            stored.append(time.monotonic() - sent)
            if i % 4 >= 2:  # this record opens (2) or closes (3) sensor_error.co
                deadline = time.monotonic() + 30
                while t not in alerts.arrived and time.monotonic() < deadline:
                    time.sleep(0.005)
                if t in alerts.arrived:
                    alerted.append(alerts.arrived[t] - sent)
                else:
                    missed += 1
            i += 1
    finally:
        client.disconnect()
        client.loop_stop()
    ms = [x * 1000 for x in stored]
    ams = [x * 1000 for x in alerted]
    return {"probes": i, "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms), "alerts": len(ams), "alerts_missed": missed,
            "alert_p50_ms": percentile(ams, 50), "alert_p99_ms": percentile(ams, 99)}


def run(seconds: float = 60.0, n_stations: int = 26, loads: tuple[int, ...] = (1, 100),
        say: Callable[[str], None] = print) -> dict:
    from collector.config import Settings
    from collector.pipeline import Collector

    others = [s for s in common.stations(n_stations) if s != PROBE]
    result: dict = {"machine": common.machine(), "stations": len(others) + 1,
                    "seconds": seconds, "loads": {}}
    with common.private_stack() as (env, folder):
        c = Collector(Settings.from_env(env, folder / "collector", common.collector_options(
            f"bench-latency-{uuid.uuid4().hex[:6]}")))
        c.start()
        alerts = AlertWatch(env)
        try:
            for n, load in enumerate(loads):
                rate = (len(others) + 1) * load / NOMINAL_PERIOD_S
                say(f"latency: load x{load} ({rate:.2f} messages/s from {len(others)} "
                    f"stations) for {seconds:g} s")
                t0 = common.window_start(30 - 5 * n)  # later loads later: alert state goes on
                stream = StationStream(env, others, t0 - 10 * 86400,
                                       interval_s=NOMINAL_PERIOD_S / load).start()
                try:
                    r = probe(env, seconds, t0, alerts)
                finally:
                    stream.stop()
                r.update(load=load, background_msgs_per_s=rate,
                         background_sent=stream.sent())
                result["loads"][f"x{load}"] = r
            result["rejected"] = c.stats["totals"]["rejected"]
        finally:
            alerts.close()
            c.stop()
    return result


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def table(r: dict) -> list[str]:
    m = r["machine"]
    out = [f"bench latency: probe {PROBE}, {r['stations']} stations, {r['seconds']:g} s per "
           f"load; {m['nproc']} CPUs, {m['cpu']}, {m['ram_gib']} GiB",
           f"  {'load':6} {'msgs/s':>7} {'probes':>6} {'queryable p50':>14} {'p99':>6} "
           f"{'alerts':>6} {'alert p50':>10} {'p99':>6}  (ms, publish -> ...)"]
    for name, x in r["loads"].items():
        out.append(f"  {name:6} {x['background_msgs_per_s']:7.2f} {x['probes']:6d} "
                   f"{_ms(x['p50_ms']):>14} {_ms(x['p99_ms']):>6} {x['alerts']:6d} "
                   f"{_ms(x['alert_p50_ms']):>10} {_ms(x['alert_p99_ms']):>6}")
    return out
