"""The broker's station topics → Envelopes, acknowledged only when the pipeline says so.

paho-mqtt 2 with a persistent session (fixed client id; MQTT 3.1.1 `clean_session=False`, or
MQTT 5 `clean_start=False` with a session expiry) and manual acks: a message the collector has
not made durable (spool or dead letters) stays with the broker, which delivers it again after a
reconnect or a restart. With `share_group`, every topic is subscribed as
`$share/<group>/<topic>`, so collectors in one group split the messages between them. paho's
own thread reads the socket and reconnects with a growing delay; `emit` runs in that thread.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collector.contracts import Emit, Envelope
from collector.metrics import Metrics
from collector.plugins import Env, Plugin, register
from collector.sources.mqtt.options import MqttOptions

log = logging.getLogger("quantrac.collector.mqtt")

PROTOCOLS = ("3.1.1", "5")

class MqttSource:
    name = "mqtt"

    def __init__(self, host: str, port: int, user: str, password: str, *,
                 client_id: str = "quantrac-collector",
                 topics: tuple[str, ...] = ("quantrac/v1/+/data",), qos: int = 1,
                 keepalive_s: int = 30, reconnect_min_s: float = 1.0,
                 reconnect_max_s: float = 30.0, protocol: str = "3.1.1",
                 share_group: str = "", session_expiry_s: int = 2_592_000,
                 metrics: Metrics | None = None) -> None:
        self.host, self.port = host, port
        self.client_id = client_id
        self.topics = tuple(f"$share/{share_group}/{t}" if share_group else t for t in topics)
        self.qos = qos
        self.keepalive_s = keepalive_s
        self.v5 = protocol == "5"
        self.session_expiry_s = session_expiry_s
        self._metrics = metrics or Metrics()
        self._emit: Emit | None = None
        # A token from an earlier connection must not be acked on this one: the broker has
        # already queued that message for redelivery, and a stale packet id could match
        # another message. The redelivered copy is stored again (idempotent) and acked then.
        self._generation = 0
        self._subscribed = threading.Event()
        self._pending_sub: set[int] = set()
        if self.v5:  # the session is kept through clean_start=False at connect
            self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                       protocol=mqtt.MQTTv5)
        else:
            self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                       clean_session=False)
        self._client.manual_ack_set(True)
        self._client.username_pw_set(user, password)
        # paho types these as int but waits fractions of a second just as well
        self._client.reconnect_delay_set(min_delay=reconnect_min_s,  # type: ignore[arg-type]
                                         max_delay=reconnect_max_s)  # type: ignore[arg-type]
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._started = False

    # -- Source contract -------------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        self._emit = emit
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
            self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s,
                                       clean_start=False, properties=props)
        else:
            self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()
        self._started = True

    def ack(self, token: Any) -> None:
        generation, mid, qos = token
        if qos and generation == self._generation:
            self._client.ack(mid, qos)

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._client.disconnect()  # keeps the session: unacked messages stay with the broker
        self._client.loop_stop()
        self._subscribed.clear()

    # -- extras ----------------------------------------------------------------------------

    def wait_subscribed(self, timeout: float) -> bool:
        """True once the broker has confirmed every subscription on the current connection."""
        return self._subscribed.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    # -- paho callbacks (network thread) ----------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker %s:%s refused the connection as %r: %s (retrying)",
                      self.host, self.port, self.client_id, reason_code)
            self._metrics.disconnected(f"connect refused: {reason_code}")
            return
        self._generation += 1
        self._metrics.connected()
        log.info("connected to %s:%s as %r (session %s)", self.host, self.port, self.client_id,
                 "resumed" if flags.session_present else "new")
        result, mid = client.subscribe([(t, self.qos) for t in self.topics])
        if result == mqtt.MQTT_ERR_SUCCESS and mid is not None:
            self._pending_sub = {mid}

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._subscribed.clear()
        if self._started:
            log.warning("disconnected from %s:%s: %s (reconnecting)", self.host, self.port,
                        reason_code)
            self._metrics.disconnected(f"disconnected: {reason_code}")
        else:
            self._metrics.disconnected()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [t for t, rc in zip(self.topics, reason_codes, strict=False) if rc.is_failure]
        if failed:
            log.error("broker refused the subscription to %s", ", ".join(failed))
            self._metrics.source_error(f"subscription refused: {', '.join(failed)}")
        if mid in self._pending_sub:
            self._pending_sub.discard(mid)
            if not failed:
                self._subscribed.set()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        try:
            env = Envelope(msg.topic, bytes(msg.payload), time.time(),
                           (self._generation, msg.mid, msg.qos))
            if self._emit is not None:
                self._emit(env)
        except Exception:  # never let an error kill paho's network thread; no ack follows
            log.exception("could not hand over message %s", msg.mid)


def build(m: MqttOptions, env: Env, metrics: Metrics) -> MqttSource:
    return MqttSource(env.mqtt_host, env.mqtt_port, env.mqtt_user, env.mqtt_password,
                      client_id=m.client_id, topics=m.topics, qos=m.qos,
                      keepalive_s=m.keepalive_s, reconnect_min_s=m.reconnect_min_s,
                      reconnect_max_s=m.reconnect_max_s, protocol=m.protocol,
                      share_group=m.share_group, session_expiry_s=m.session_expiry_s,
                      metrics=metrics)


def check(m: MqttOptions, env: Env) -> None:
    if m.protocol not in PROTOCOLS:
        raise ValueError(f"protocol = {m.protocol!r}: must be one of {', '.join(PROTOCOLS)}")
    if m.share_group and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", m.share_group):
        raise ValueError(f"share_group = {m.share_group!r}: must be 1-64 letters, digits, "
                         "'_', '.' or '-'")
    if m.reconnect_min_s > m.reconnect_max_s:
        raise ValueError(f"reconnect_min_s = {m.reconnect_min_s!r}: must not exceed "
                         f"reconnect_max_s = {m.reconnect_max_s!r}")


register(Plugin("source", "mqtt", MqttOptions, build, check))
