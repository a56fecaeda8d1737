"""[sources.mqtt] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from quantrac_common.protocol import ANSWER, PREFIX, STATION_WRITES


def _opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


DEFAULT_TOPICS = tuple(f"{PREFIX}/+/{leaf}" for leaf in (*STATION_WRITES, ANSWER))


@dataclass(frozen=True)
class MqttOptions:
    """[sources.mqtt]"""

    client_id: str = _opt("quantrac-collector", doc="MQTT client id; names the broker session")
    topics: tuple[str, ...] = _opt(DEFAULT_TOPICS, doc="subscriptions")
    qos: int = _opt(1, 0, 2, "subscription QoS")
    keepalive_s: int = _opt(30, 5, 3600, "MQTT keepalive")
    reconnect_min_s: float = _opt(1.0, 0.1, 3600, "first reconnect delay")
    reconnect_max_s: float = _opt(30.0, 0.1, 3600, "longest reconnect delay")
    connect_wait_s: float = _opt(10.0, 0, 3600, "start() waits this long for the subscription")
    protocol: str = _opt("3.1.1", doc="MQTT protocol version: 3.1.1 or 5")
    share_group: str = _opt("", doc="shared-subscription group; empty: no sharing")
    session_expiry_s: int = _opt(2_592_000, 0, 4_294_967_295, "MQTT 5 session expiry")
