"""Where the forecaster's warnings go: the retained `quantrac/v1/alerts/<station>/forecast`
topic, published with the forecaster's own MQTT account (`forecaster`, which may publish
there and nowhere else: collector/services/mosquitto.py).

The collector's retained `quantrac/v1/alerts/<station>` holds its alert state (the `open`
list of measured alerts); a warning published there replaced it, and a subscriber joining
later lost the measured alerts. On a topic of its own each keeps its state.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from collector.delivery.alert_outputs import AlertOutputs
from collector.sinks.mqtt_alerts.plugin import FORECAST_TOPIC, MqttAlertSink

USER_KEYS = ("QUANTRAC_MQTT_FORECAST_USER", "QUANTRAC_MQTT_FORECAST_PASSWORD")


def require(env: dict[str, str]) -> None:
    """ValueError naming what services.env lacks for the forecaster's account."""
    missing = [k for k in USER_KEYS if not env.get(k)]
    if missing:
        raise ValueError(f"services.env lacks {', '.join(missing)}: run `quantrac services up`")


def mqtt_sink(env: dict[str, str], client_id: str | None = None) -> MqttAlertSink:
    require(env)
    return MqttAlertSink(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]),
                         env[USER_KEYS[0]], env[USER_KEYS[1]],
                         client_id=client_id or f"quantrac-forecast-{uuid.uuid4().hex[:6]}",
                         topic=FORECAST_TOPIC)


def warning_outputs(env: dict[str, str], dead_letters: Path, **retry: float) -> AlertOutputs:
    """The warnings' outputs (not started): the retained MQTT topic; what it refuses goes to
    `dead_letters`."""
    return AlertOutputs({"mqtt_alerts": mqtt_sink(env)}, dead_letters, **retry)
