"""Alert points → retained `quantrac/v1/alerts/<station>` messages (protocol-v1 `alert`).

The payload is the transition with the list of the station's alerts still open (`open`), so
whoever subscribes later reads the station's whole alert state from the one retained message.
Publishes as the collector's MQTT user (the ACL lets it write `quantrac/v1/alerts/+`) with a
client id of its own and a clean session; QoS 1, each message waited for.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import paho.mqtt.client as mqtt

from collector.contracts import Point, WriteResult
from collector.plugins import Env, Plugin, register
from collector.sinks.mqtt_alerts.options import MqttAlertsOptions
from quantrac_common.protocol import PREFIX

log = logging.getLogger("quantrac.collector.mqtt_alerts")
TOPIC = PREFIX + "/alerts/{station}"
FORECAST_TOPIC = PREFIX + "/alerts/{station}/forecast"  # forecast/'s warnings (own account)


class MqttAlertSink:
    name = "mqtt_alerts"

    def __init__(self, host: str, port: int, user: str, password: str, *,
                 client_id: str = "quantrac-collector-alerts", qos: int = 1,
                 timeout_s: float = 10.0, topic: str = TOPIC) -> None:
        """`topic`: where each station's retained message goes (`{station}` filled in)."""
        self.host, self.port = host, port
        self.topic = topic
        self.qos = qos
        self.timeout_s = timeout_s
        self._connected = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=True)
        self._client.username_pw_set(user, password)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._started = False

    def _start(self) -> None:
        """Connect on first use, from the output's own thread."""
        if not self._started:
            self._started = True
            self._client.connect_async(self.host, self.port, keepalive=30)
            self._client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker %s:%s refused the alert publisher: %s", self.host, self.port,
                      reason_code)
            return
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def write(self, items: list[Point]) -> WriteResult:
        result = WriteResult()
        self._start()
        if not self._connected.wait(self.timeout_s):
            result.retry_after = 1.0
            result.error = f"not connected to the broker at {self.host}:{self.port}"
            return result
        for i, p in enumerate(items):
            station = p.station
            if not station or p.note is None:
                result.rejected.append((i, "alert point without station or payload"))
                continue
            body = json.dumps(p.note, ensure_ascii=False).encode("utf-8")
            info = self._client.publish(self.topic.format(station=station), body, qos=self.qos,
                                        retain=True)
            deadline = time.monotonic() + self.timeout_s
            try:
                info.wait_for_publish(timeout=max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as e:  # not queued: the link dropped meanwhile
                result.error = f"publish to {station} failed: {e}"
                result.retry_after = 1.0
                return result
            if not info.is_published():
                result.error = f"broker did not acknowledge the alert for {station}"
                result.retry_after = 1.0
                return result  # keep this and later ones, in order
            result.accepted.append(i)
        return result

    def close(self) -> None:
        if self._started:
            self._started = False
            self._client.disconnect()
            self._client.loop_stop()


def build(o: MqttAlertsOptions, env: Env) -> dict[str, MqttAlertSink]:
    """The retained-alert output, unless switched off; its client id follows the source's."""
    if not o.enabled:
        return {}
    return {"mqtt_alerts": MqttAlertSink(
        env.mqtt_host, env.mqtt_port, env.mqtt_user, env.mqtt_password,
        client_id=o.client_id or f"{env.peer('mqtt').client_id}-alerts", qos=o.qos,
        timeout_s=o.timeout_s)}


register(Plugin("output", "mqtt_alerts", MqttAlertsOptions, build, reads=("mqtt",)))

