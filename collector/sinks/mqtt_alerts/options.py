"""[sinks.mqtt_alerts] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MqttAlertsOptions:
    """[sinks.mqtt_alerts]"""

    enabled: bool = field(default=True, metadata={"doc": "publish retained alert messages"})
    client_id: str = field(default="", metadata={
        "doc": "MQTT client id; empty: the source's client id + '-alerts'"})
    qos: int = field(default=1, metadata={"lo": 0, "hi": 2, "doc": "publish QoS"})
    timeout_s: float = field(default=10.0, metadata={
        "lo": 0.1, "hi": 600, "doc": "wait for the broker's acknowledgement"})
