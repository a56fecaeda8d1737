"""How each part of the collector is built from the settings, through the plugin registry
(collector/plugins.py): the processor chain in config order, the MQTT source, the InfluxDB
sink and the alert outputs. Each plugin builds from its own options and its environment."""

from __future__ import annotations

from collector.config import Settings
from collector.contracts import Processor, Sink, Source
from collector.delivery.alert_outputs import AlertOutputs
from collector.metrics import Metrics

SOURCE, DATABASE = "mqtt", "influxdb"  # the source the worker reads, the sink the spool drains


def processors(s: Settings) -> list[Processor]:
    return [s.build(name) for name in s.collector.processors]


def mqtt_source(s: Settings, metrics: Metrics) -> Source:
    return s.build(SOURCE, metrics)


def influx_sink(s: Settings) -> Sink:
    return s.build(DATABASE)


def alert_outputs(s: Settings) -> AlertOutputs:
    """Every output plugin's sinks (retained MQTT, webhook, e-mail, …), each on its own
    thread, when the chain makes alerts; their outbox retries as `[sinks.notify]` says."""
    sinks: dict[str, Sink] = {}
    if "alerts" in s.collector.processors:
        for p in s.plugins.values():
            if p.kind == "output":
                sinks.update(s.build(p.name))
    return AlertOutputs(sinks, s.data_dir / "alert-dead-letters.jsonl",
                        retry_initial_s=s.notify.retry_initial_s,
                        retry_max_s=s.notify.retry_max_s, outbox_dir=s.data_dir / "alert-outbox")
