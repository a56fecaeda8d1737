"""Where the forecaster's warnings go: the retained `quantrac/v1/alerts/<station>/forecast`
topic, published with the forecaster's own MQTT account (`forecaster`, which may publish
there and nowhere else: collector/services/mosquitto.py), and, where the collector's options
file configures them, the same outputs that reach people as the collector's alerts (webhook,
e-mail, Zalo, Telegram: `[sinks.notify]`, `[sinks.chat]`), built by the collector's own
plugins so one file configures both.

The collector's retained `quantrac/v1/alerts/<station>` holds its alert state (the `open`
list of measured alerts); a warning published there replaced it, and a subscriber joining
later lost the measured alerts. On a topic of its own each keeps its state. The collector's
`mqtt_alerts` output is therefore not built here: it publishes as the collector's account.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from collector.config import Settings
from collector.contracts import Sink
from collector.delivery.alert_outputs import AlertOutputs
from collector.sinks.mqtt_alerts.plugin import FORECAST_TOPIC, MqttAlertSink

USER_KEYS = ("QUANTRAC_MQTT_FORECAST_USER", "QUANTRAC_MQTT_FORECAST_PASSWORD")
COLLECTORS_MQTT = "mqtt_alerts"  # the collector's retained topic and account: not ours


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


def people_outputs(settings: Settings) -> dict[str, Sink]:
    """Every output the collector's options configure, but its retained MQTT topic: what
    `[sinks.notify]`, `[sinks.chat]` (and an output plugin of `[collector] plugins`) build."""
    sinks: dict[str, Sink] = {}
    for p in settings.plugins.values():
        if p.kind == "output" and p.name != COLLECTORS_MQTT:
            sinks.update(settings.build(p.name))
    return sinks


def warning_outputs(env: dict[str, str], dead_letters: Path, settings: Settings | None = None,
                    outbox_dir: Path | None = None, **retry: float) -> AlertOutputs:
    """The warnings' outputs (not started): the retained MQTT topic, and with `settings`
    (the collector's options) the outputs they configure, retrying as `[sinks.notify]`
    says unless `retry` is given; what a receiver refuses goes to `dead_letters` under the
    warning's topic. With `outbox_dir`, the webhook, e-mail and chat outputs keep undelivered
    warnings there across a restart (the forecaster's own: the collector's is locked by it)."""
    sinks: dict[str, Sink] = {"mqtt_alerts": mqtt_sink(env)}
    if settings is not None:
        sinks |= people_outputs(settings)
        retry = {"retry_initial_s": settings.notify.retry_initial_s,
                 "retry_max_s": settings.notify.retry_max_s, **retry}
    return AlertOutputs(sinks, dead_letters, outbox_dir=outbox_dir, **retry)
