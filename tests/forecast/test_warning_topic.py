"""A forecast warning has a retained topic of its own (`quantrac/v1/alerts/<station>/forecast`,
the forecaster's account): the collector's retained alert message on
`quantrac/v1/alerts/<station>`, whose `open` list holds the measured alerts, is still there
and intact after a warning; neither account can write the other's topic (the real broker); a
warning a receiver refuses is dead-lettered under its own topic."""

from __future__ import annotations

import json
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from collector.contracts import Point
from collector.sinks.mqtt_alerts.plugin import MqttAlertSink
from forecast.forecaster import StationForecast
from forecast.outputs import warning_outputs
from forecast.warning import Warnings, load_rules

pytestmark = pytest.mark.services

STATION = "fc-topic-01"
TOPIC = f"quantrac/v1/alerts/{STATION}"


def _retained(env: dict, topic: str) -> bytes | None:
    got: list[bytes] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"op-t-{uuid.uuid4().hex[:8]}")
    c.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"], env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    c.on_message = lambda cl, u, m: got.append(m.payload) if m.retain else None
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(topic, 1)
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    try:
        deadline = time.monotonic() + 3
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        c.disconnect()
        c.loop_stop()
    return got[-1] if got else None


def _publish(env: dict, user: str, topic: str, body: bytes) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    c.username_pw_set(env[f"QUANTRAC_MQTT_{user}_USER"], env[f"QUANTRAC_MQTT_{user}_PASSWORD"])
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    try:
        c.publish(topic, body, qos=1, retain=True).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_a_warning_leaves_the_collectors_retained_alert_message_intact(services, tmp_path):
    env = services
    measured = {"v": 1, "st": STATION, "rule": "threshold.so2.1h", "state": "open",
                "event": "open", "t": 1_790_000_000, "value": 524.0, "limit": 350.0,
                "open": [{"rule": "threshold.so2.1h", "id": f"{STATION}/so2", "since": 1}]}
    collector = MqttAlertSink(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]),
                              env["QUANTRAC_MQTT_COLLECTOR_USER"],
                              env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"],
                              client_id=f"col-t-{uuid.uuid4().hex[:6]}")
    try:
        r = collector.write([Point("alert", {"station": STATION}, {"event": "open"},
                                   measured["t"], measured)])
        assert r.accepted == [0], r.error
    finally:
        collector.close()
    before = _retained(env, TOPIC)
    assert before is not None and json.loads(before) == measured

    # a forecast daily VN_AQI of 180 tomorrow: the 24 h and 48 h rules warn
    now = 1_790_000_000 - 1_790_000_000 % 3600
    fc = StationForecast(STATION, now, aqi_daily=[(now + 20 * 3600, 180, 160, 200)])
    warned = Warnings(load_rules(), tmp_path / "w.json").judge(fc)
    assert warned
    outputs = warning_outputs(env, tmp_path / "dead.jsonl", retry_initial_s=0.2,
                              retry_max_s=1.0)
    outputs.start()
    try:
        outputs.send(warned)
        deadline = time.monotonic() + 20
        while (got := _retained(env, TOPIC + "/forecast")) is None or \
                json.loads(got) != warned[-1].note:
            assert time.monotonic() < deadline, got
    finally:
        outputs.stop()
    note = json.loads(got)
    assert note["forecast"] is True and note["state"] == "warning" and note["st"] == STATION
    assert _retained(env, TOPIC) == before  # the measured alerts' state, byte for byte

    # the broker keeps them apart: the forecaster cannot overwrite the collector's topic,
    # and the collector cannot write the forecaster's
    _publish(env, "FORECAST", TOPIC, b'{"spoof": 1}')
    _publish(env, "COLLECTOR", TOPIC + "/forecast", b'{"spoof": 2}')
    assert _retained(env, TOPIC) == before
    assert _retained(env, TOPIC + "/forecast") == got
    # the tests' session broker is shared: leave no retained message behind
    _publish(env, "COLLECTOR", TOPIC, b"")
    _publish(env, "FORECAST", TOPIC + "/forecast", b"")


def test_a_refused_warning_is_dead_lettered_under_its_own_topic(tmp_path):
    """A receiver that refuses for good: the warning's dead letter names the topic the
    warning lives on (`…/alerts/<station>/forecast`), the measured alert's its own."""
    from forecast_peers import Peer

    from collector.dead_letters import read
    from collector.delivery.alert_outputs import AlertOutputs
    from collector.sinks.notify.plugin import WebhookSink

    now = 1_790_000_000 - 1_790_000_000 % 3600
    fc = StationForecast(STATION, now, aqi_daily=[(now + 20 * 3600, 180, 160, 200)])
    warned = Warnings(load_rules(), tmp_path / "w.json").judge(fc)
    measured = Point("alert", {"station": STATION, "rule": "threshold.so2.1h",
                               "severity": "critical"}, {"event": "open"}, now,
                     {"v": 1, "st": STATION, "rule": "threshold.so2.1h", "state": "open",
                      "event": "open", "t": now, "severity": "critical", "id": "x"})
    receiver = Peer(post_status=422)
    outputs = AlertOutputs({"webhook": WebhookSink(receiver.url + "/alerts")},
                           tmp_path / "dead.jsonl", retry_initial_s=0.1, retry_max_s=0.2)
    outputs.start()
    try:
        outputs.send([*warned, measured])
        deadline = time.monotonic() + 20
        while len(read(tmp_path / "dead.jsonl")) < len(warned) + 1:
            assert time.monotonic() < deadline, read(tmp_path / "dead.jsonl")
            time.sleep(0.05)
    finally:
        outputs.stop()
        receiver.close()
    topics = {(d["alert"]["rule"], d["topic"]) for d in read(tmp_path / "dead.jsonl")}
    assert topics == {*((p.tags["rule"], f"{TOPIC}/forecast") for p in warned),
                      ("threshold.so2.1h", TOPIC)}


def test_alerts_list_shows_open_warnings_as_forecasts_with_their_lead_time(
        services, session_run_dir, tmp_path):
    """`quantrac alerts list` reads the forecaster's retained message beside the collector's:
    each open warning marked a forecast (not a measurement), with its day, index, threshold
    and the hours until that day starts; once the warnings close, none is listed."""
    from click.testing import CliRunner

    from quantrac.cli import main

    env, station = services, "pq-air-09"
    topic = f"quantrac/v1/alerts/{station}/forecast"
    now = int(time.time()) // 3600 * 3600
    local = now + 7 * 3600
    tomorrow_end = local - local % 86400 + 2 * 86400 - 7 * 3600  # the end of tomorrow (local)
    warnings = Warnings(load_rules(), tmp_path / "w.json")
    warned = warnings.judge(StationForecast(station, now,
                                            aqi_daily=[(tomorrow_end, 180, 160, 200)]))
    assert len(warned) == 4  # ≥ 151 and ≥ 101 (sensitive), each within 24 h and 48 h

    def listed() -> str:
        r = CliRunner().invoke(main, ["alerts", "list", "--station", station,
                                      "--run-dir", str(session_run_dir)])
        assert r.exit_code == 0, r.output
        return r.output

    outputs = warning_outputs(env, tmp_path / "dead.jsonl", retry_initial_s=0.2,
                              retry_max_s=1.0)
    outputs.start()
    try:
        outputs.send(warned)
        deadline = time.monotonic() + 20
        while (got := _retained(env, topic)) is None or json.loads(got) != warned[-1].note:
            assert time.monotonic() < deadline, got
        out = listed()
        lines = [x for x in out.splitlines() if "FORECAST WARNING" in x]
        assert {x.split()[0] for x in lines} == {p.fields["id"] for p in warned}, out
        starts = tomorrow_end - 86400
        for line in lines:
            assert "FORECAST WARNING, not a measurement: daily VN_AQI on " in line
            assert "forecast 180 (160–200)" in line
            lead = [f"lead time {(starts - t) // 3600} h" for t in (now, int(time.time()))]
            assert any(x in line for x in lead), line
        assert sum("≥ 151 for everyone" in x for x in lines) == 2
        assert sum("≥ 101 for sensitive groups" in x for x in lines) == 2
        assert "forecast warnings (4 open; forecasts, not measurements):" in out

        closed = warnings.judge(StationForecast(station, now + 3600,
                                                aqi_daily=[(tomorrow_end, 60, 50, 70)]))
        assert {p.fields["event"] for p in closed} == {"close"}
        outputs.send(closed)
        deadline = time.monotonic() + 20
        while (got := _retained(env, topic)) is None or json.loads(got) != closed[-1].note:
            assert time.monotonic() < deadline, got
        assert "FORECAST WARNING" not in listed()
    finally:
        outputs.stop()
        _publish(env, "FORECAST", topic, b"")  # the session's broker is shared
