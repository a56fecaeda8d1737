"""The bench's own MQTT client: watches stations' events and alerts, sends them commands.

It logs in as the operator (reads everything, may write stations' `cmd` and `config`), and
clearing the retained alerts of a station before a run uses the collector's account, the only
one allowed to write `quantrac/v1/alerts/<station>` (the forecaster's
`alerts/<station>/forecast` is its own).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass

import paho.mqtt.client as mqtt

from quantrac_common.protocol import PREFIX

CONNECT_TIMEOUT_S = 10.0


class WatchError(RuntimeError):
    """The broker could not be reached or refused the bench's client."""


@dataclass(frozen=True)
class Message:
    topic: str
    doc: dict
    retained: bool
    at: float  # time.time() when it arrived


def _client(env: dict, user_key: str, prefix: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                    client_id=f"{prefix}-{uuid.uuid4().hex[:10]}", clean_session=True)
    c.username_pw_set(env[f"QUANTRAC_MQTT_{user_key}_USER"],
                      env[f"QUANTRAC_MQTT_{user_key}_PASSWORD"])
    return c


def _connect(c: mqtt.Client, env: dict, what: str) -> None:
    ready = threading.Event()
    refused: list[str] = []

    def on_connect(_c, _u, _f, reason, _p=None):
        if reason.is_failure:
            refused.append(str(reason))
        ready.set()

    c.on_connect = on_connect
    try:
        c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]), keepalive=30)
    except OSError as e:
        raise WatchError(f"{what}: broker {env['QUANTRAC_MQTT_HOST']}:"
                         f"{env['QUANTRAC_MQTT_PORT']} unreachable ({e})") from None
    c.loop_start()
    if not ready.wait(CONNECT_TIMEOUT_S) or refused:
        c.loop_stop()
        c.disconnect()
        raise WatchError(f"{what}: broker refused or did not answer "
                         f"({refused[0] if refused else 'timeout'})")


def clear_retained_alerts(env: dict, stations: list[str]) -> None:
    """Remove the retained alert of each station, so what a run finds there is its own."""
    c = _client(env, "COLLECTOR", "hil-clear")
    _connect(c, env, "clearing retained alerts")
    try:
        for sid in stations:
            c.publish(f"{PREFIX}/alerts/{sid}", b"", qos=1, retain=True).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def retained_alert(env: dict, station: str, wait_s: float = 2.0) -> dict | None:
    """The retained alert message of a station as a newcomer reads it, or None."""
    c = _client(env, "OPERATOR", "hil-retained")
    got: list[dict] = []
    done = threading.Event()

    def on_message(_c, _u, msg):
        if msg.retain and msg.payload:
            try:
                got.append(json.loads(msg.payload))
            except ValueError:
                got.append({"unreadable": msg.payload[:200].decode(errors="replace")})
        done.set()

    c.on_message = on_message
    _connect(c, env, "reading retained alerts")
    try:
        c.subscribe(f"{PREFIX}/alerts/{station}", qos=1)
        done.wait(wait_s)
    finally:
        c.disconnect()
        c.loop_stop()
    return got[0] if got else None


class Watcher:
    """Collects events and alerts of some stations while a scenario runs; sends commands."""

    def __init__(self, env: dict, stations: list[str]) -> None:
        self.env = env
        self.stations = stations
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._n = 0
        self._client = _client(env, "OPERATOR", "hil-watch")
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *_a: self._subscribed.set()

    def start(self) -> Watcher:
        _connect(self._client, self.env, "watching stations")
        topics = [(f"{PREFIX}/{s}/event", 1) for s in self.stations]
        topics += [(f"{PREFIX}/alerts/{s}", 1) for s in self.stations]
        self._client.subscribe(topics)
        if not self._subscribed.wait(CONNECT_TIMEOUT_S):
            self.stop()
            raise WatchError("watching stations: the broker did not confirm the subscription")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _c, _u, msg) -> None:
        try:
            doc = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            doc = {"unreadable": msg.payload[:200].decode(errors="replace")}
        if not isinstance(doc, dict):
            doc = {"unreadable": repr(doc)[:200]}
        with self._lock:
            self.messages.append(Message(msg.topic, doc, bool(msg.retain), time.time()))

    def command(self, station: str, cmd: str, args: dict | None = None) -> str:
        """Publish a protocol-v1 command to the station; its id (the ack carries it)."""
        with self._lock:
            self._n += 1
            cid = f"hil-{self._n}"
        doc = {"v": 1, "id": cid, "cmd": cmd, "args": args or {}}
        self._client.publish(f"{PREFIX}/{station}/cmd", json.dumps(doc), qos=1).wait_for_publish(
            CONNECT_TIMEOUT_S)
        with self._lock:
            self.messages.append(Message(f"{PREFIX}/{station}/cmd", doc, False, time.time()))
        return cid

    def events(self, station: str) -> list[dict]:
        with self._lock:
            return [m.doc for m in self.messages if m.topic == f"{PREFIX}/{station}/event"]

    def sent(self, station: str) -> list[dict]:
        with self._lock:
            return [m.doc for m in self.messages if m.topic == f"{PREFIX}/{station}/cmd"]

    def alerts(self, station: str) -> list[dict]:
        """Alert messages that arrived live during the run (not the retained one at start)."""
        with self._lock:
            return [m.doc for m in self.messages
                    if m.topic == f"{PREFIX}/alerts/{station}" and not m.retained and m.doc]
