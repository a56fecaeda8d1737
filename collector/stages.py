"""How each part of the collector is built from the settings: the processor stages by name,
the MQTT source and the InfluxDB sink. Imports are lazy, so a chain without a stage never loads
its plugin."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from collector.config import Settings
from collector.contracts import Processor, Sink, Source
from collector.metrics import Metrics


def _validate(s: Settings) -> Processor:
    from collector.processors.validate.plugin import ValidateProcessor

    return ValidateProcessor(s.collector.registry, s.validate.max_future_s)


def _units(s: Settings) -> Processor:
    from collector.processors.units.plugin import UnitsProcessor

    return UnitsProcessor(s.collector.registry, s.units.keep_raw)


def _dedupe(s: Settings) -> Processor:
    from collector.processors.dedupe.plugin import DedupeProcessor

    d = s.dedupe
    return DedupeProcessor(d.boots_per_station, d.ranges_per_boot, d.forget_after_s)


def _qc(s: Settings) -> Processor:
    from collector.processors.qc.plugin import QcProcessor

    return QcProcessor(s.collector.registry, s.qc.limits, s.qc.history_size)


def _derived(name: str) -> Callable[[Settings], Processor]:
    """aggregate, indices, alerts: each plugin module has `build(settings)`."""
    def make(s: Settings) -> Processor:
        return importlib.import_module(f"collector.processors.{name}.plugin").build(s)
    return make


PROCESSORS: dict[str, Callable[[Settings], Processor]] = {
    "validate": _validate, "units": _units, "dedupe": _dedupe, "qc": _qc,
    **{name: _derived(name) for name in ("aggregate", "indices", "alerts", "device")}}


def mqtt_source(s: Settings, metrics: Metrics) -> Source:
    from collector.sources.mqtt.plugin import MqttSource

    m = s.mqtt
    return MqttSource(s.mqtt_host, s.mqtt_port, s.mqtt_user, s.mqtt_password,
                      client_id=m.client_id, topics=m.topics, qos=m.qos,
                      keepalive_s=m.keepalive_s, reconnect_min_s=m.reconnect_min_s,
                      reconnect_max_s=m.reconnect_max_s, protocol=m.protocol,
                      share_group=m.share_group, session_expiry_s=m.session_expiry_s,
                      metrics=metrics)


def influx_sink(s: Settings) -> Sink:
    from collector.sinks.influxdb.plugin import InfluxSink

    return InfluxSink(s.influx_write_url, s.influx_db, s.influx_write_user,
                      s.influx_write_password, timeout_s=s.influxdb.timeout_s)
