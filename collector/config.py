"""The collector's settings: connections from the run folder's services.env, options from an
optional TOML file (layout and defaults in collector/sample.toml).

Every default sits beside its option with its accepted range, and every error names the key and
the value, so a typo in a config file stops the collector at start instead of at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from collector.camera.options import CameraOptions
from collector.egov.options import EgovOptions
from collector.metrics_export import MetricsOptions
from collector.processors.aggregate.options import AggregateOptions
from collector.processors.alerts.options import AlertsOptions
from collector.processors.dedupe.options import DedupeOptions
from collector.processors.indices.options import IndicesOptions
from collector.processors.qc.options import QcOptions
from collector.processors.units.options import UnitsOptions
from collector.processors.validate.options import ValidateOptions
from collector.sinks.influxdb.options import InfluxOptions
from collector.sinks.mqtt_alerts.options import MqttAlertsOptions
from collector.sinks.notify.options import NotifyOptions
from collector.sources.mqtt.options import MqttOptions

KNOWN_PROCESSORS = ("validate", "units", "dedupe", "qc", "aggregate", "indices", "alerts",
                    "device")
DEFAULT_PROCESSORS = ("validate", "units", "dedupe", "qc", "aggregate", "indices", "alerts",
                      "device")
MQTT_PROTOCOLS = ("3.1.1", "5")
ENV_KEYS = {
    "mqtt_host": "QUANTRAC_MQTT_HOST",
    "mqtt_port": "QUANTRAC_MQTT_PORT",
    "mqtt_user": "QUANTRAC_MQTT_COLLECTOR_USER",
    "mqtt_password": "QUANTRAC_MQTT_COLLECTOR_PASSWORD",
    "influx_write_url": "QUANTRAC_INFLUX_WRITE_URL",
    "influx_db": "QUANTRAC_INFLUX_DB",
    "influx_write_user": "QUANTRAC_INFLUX_WRITE_USER",
    "influx_write_password": "QUANTRAC_INFLUX_WRITE_PASSWORD",
}
SECRET_FIELDS = ("mqtt_password", "influx_write_password")


class ConfigError(ValueError):
    """A setting is missing or outside what the collector accepts; the message names it."""


def opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class CollectorOptions:
    """[collector]"""

    registry: str = opt("phu-quoc", doc="station registry (boards/registry/<name>.json)")
    processors: tuple[str, ...] = opt(DEFAULT_PROCESSORS, doc="processor chain, in order")
    queue_size: int = opt(10000, 1, 10_000_000, "messages held between source and worker")
    data_dir: str = opt("", doc="spool, processor state, dead letters; empty: <run_dir>/collector")
    dead_letters: str = opt("", doc="dead-letter file; empty: <data_dir>/dead-letters.jsonl")
    dead_letters_max_bytes: int = opt(256 << 20, 64 << 10, 1 << 40,
                                      "disk the dead-letter file may use")
    max_payload_bytes: int = opt(131072, 1024, 256 << 20,
                                 "longer messages are refused before they are decoded")
    state_interval_s: float = opt(5.0, 0, 3600, "how often processor state is saved")
    stop_timeout_s: float = opt(10.0, 0, 3600, "how long stop() keeps retrying a write")
    summary_interval_s: float = opt(60.0, 1, 86400, "period of the one-line log summary")


@dataclass(frozen=True)
class SpoolOptions:
    """[spool]"""

    max_bytes: int = opt(1 << 30, 1 << 20, 1 << 40, "disk the spool may use")
    segment_bytes: int = opt(8 << 20, 1 << 16, 1 << 30, "size of one segment file")
    high_water: float = opt(0.8, 0.1, 1.0, "share of max_bytes that raises the alert")


SECTIONS: dict[str, type] = {
    "collector": CollectorOptions,
    "spool": SpoolOptions,
    "sources.mqtt": MqttOptions,
    "processors.validate": ValidateOptions,
    "processors.units": UnitsOptions,
    "processors.dedupe": DedupeOptions,
    "processors.qc": QcOptions,
    "processors.aggregate": AggregateOptions,
    "processors.indices": IndicesOptions,
    "processors.alerts": AlertsOptions,
    "sinks.influxdb": InfluxOptions,
    "sinks.mqtt_alerts": MqttAlertsOptions,
    "sinks.notify": NotifyOptions,
    "metrics": MetricsOptions,
    "camera": CameraOptions,
    "egov": EgovOptions,
}
ATTRS = {"collector": "collector", "spool": "spool", "sources.mqtt": "mqtt",
         "processors.validate": "validate", "processors.units": "units",
         "processors.dedupe": "dedupe", "processors.qc": "qc", "sinks.influxdb": "influxdb",
         "processors.aggregate": "aggregate", "processors.indices": "indices",
         "processors.alerts": "alerts", "sinks.mqtt_alerts": "mqtt_alerts",
         "sinks.notify": "notify", "metrics": "metrics", "camera": "camera", "egov": "egov"}
TOP_TABLES = ("collector", "spool", "metrics", "camera", "egov")


@dataclass(frozen=True)
class Settings:
    """Everything the collector runs from. Build with `Settings.from_env` or `load`."""

    mqtt_host: str
    mqtt_port: int
    mqtt_user: str
    mqtt_password: str
    influx_write_url: str
    influx_db: str
    influx_write_user: str
    influx_write_password: str
    run_dir: Path
    collector: CollectorOptions = CollectorOptions()
    spool: SpoolOptions = SpoolOptions()
    mqtt: MqttOptions = MqttOptions()
    validate: ValidateOptions = ValidateOptions()
    units: UnitsOptions = UnitsOptions()
    dedupe: DedupeOptions = DedupeOptions()
    qc: QcOptions = QcOptions()
    influxdb: InfluxOptions = InfluxOptions()
    aggregate: AggregateOptions = AggregateOptions()
    indices: IndicesOptions = IndicesOptions()
    alerts: AlertsOptions = AlertsOptions()
    mqtt_alerts: MqttAlertsOptions = MqttAlertsOptions()
    notify: NotifyOptions = NotifyOptions()
    metrics: MetricsOptions = MetricsOptions()
    camera: CameraOptions = CameraOptions()
    egov: EgovOptions = EgovOptions()

    @property
    def data_dir(self) -> Path:
        return data_dir(self.run_dir, self.collector)

    @property
    def dead_letters(self) -> Path:
        return dead_letters_path(self.run_dir, self.collector)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "state.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str], run_dir: str | Path,
                 options: Mapping[str, Any] | None = None) -> Settings:
        """`env`: the services.env keys; `options`: TOML-shaped tables (see sample.toml)."""
        conn: dict[str, Any] = {}
        for name, key in ENV_KEYS.items():
            value = env.get(key)
            if value is None or value == "":
                raise ConfigError(f"services.env: {key} is missing")
            conn[name] = value
        port = conn["mqtt_port"]
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(f"services.env: {ENV_KEYS['mqtt_port']}={port!r} "
                              "is not a port number (1-65535)")
        conn["mqtt_port"] = int(port)
        url = urlparse(conn["influx_write_url"])
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ConfigError(f"services.env: {ENV_KEYS['influx_write_url']}="
                              f"{conn['influx_write_url']!r} is not an http(s) URL")
        groups = _options(options or {})
        settings = cls(run_dir=Path(run_dir), **conn, **groups)
        _check_cross(settings)
        return settings

    def describe(self) -> list[str]:
        """The effective settings, one `key = value` per line, passwords masked."""
        lines = []
        for name in ENV_KEYS:
            value = getattr(self, name)
            lines.append(f"{ENV_KEYS[name]} = {'***' if name in SECRET_FIELDS else value}")
        lines.append(f"run_dir = {self.run_dir}")
        lines.append(f"data_dir = {self.data_dir}")
        lines.append(f"dead_letters = {self.dead_letters}")
        for section, cls in SECTIONS.items():
            group = getattr(self, _attr(section))
            for f in fields(cls):
                lines.append(f"{section}.{f.name} = {_show(getattr(group, f.name))}")
        return lines


def _attr(section: str) -> str:
    return ATTRS[section]


def data_dir(run_dir: Path, opts: CollectorOptions) -> Path:
    return Path(opts.data_dir) if opts.data_dir else Path(run_dir) / "collector"


def dead_letters_path(run_dir: Path, opts: CollectorOptions) -> Path:
    if opts.dead_letters:
        return Path(opts.dead_letters)
    return data_dir(run_dir, opts) / "dead-letters.jsonl"


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    return repr(value)


def _options(doc: Mapping[str, Any]) -> dict[str, Any]:
    """TOML tables → option dataclasses, refusing unknown tables and keys by name."""
    tables: dict[str, Mapping[str, Any]] = {}
    for top, body in doc.items():
        if top in TOP_TABLES:
            tables[top] = body
            continue
        if top not in ("sources", "processors", "sinks") or not isinstance(body, Mapping):
            raise ConfigError(f"[{top}]: unknown table (known: {', '.join(SECTIONS)})")
        for name, sub in body.items():
            section = f"{top}.{name}"
            if section not in SECTIONS:
                raise ConfigError(f"[{section}]: unknown table (known: {', '.join(SECTIONS)})")
            tables[section] = sub
    out: dict[str, Any] = {}
    for section, values in tables.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}]: must be a table, got {values!r}")
        out[_attr(section)] = build(SECTIONS[section], values, section)
    return out


def build(cls: type, values: Mapping[str, Any], section: str) -> Any:
    """One option dataclass from a mapping, each value checked against its default's type
    and its declared range."""
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"[{section}] {key}: unknown option (known: {', '.join(known)})")
        f = known[key]
        where = f"[{section}] {key} = {value!r}"
        default = f.default
        if isinstance(default, tuple):
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: must be a list of strings")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: must be true or false")
        elif isinstance(value, bool):
            raise ConfigError(f"{where}: must be a {type(default).__name__}")
        elif isinstance(default, float):
            if not isinstance(value, int | float):
                raise ConfigError(f"{where}: must be a number")
            value = float(value)
        elif not isinstance(value, type(default)):
            raise ConfigError(f"{where}: must be a {type(default).__name__}")
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{where}: must be between {lo} and {hi}")
        kwargs[key] = value
    return cls(**kwargs)


def _check_cross(s: Settings) -> None:
    for name in s.collector.processors:
        if name not in KNOWN_PROCESSORS:
            raise ConfigError(f"[collector] processors: {name!r} is not a processor "
                              f"(known: {', '.join(KNOWN_PROCESSORS)})")
    if "validate" not in s.collector.processors[:1]:
        raise ConfigError(f"[collector] processors = {list(s.collector.processors)!r}: "
                          "'validate' must come first (it turns messages into readings)")
    if len(set(s.collector.processors)) != len(s.collector.processors):
        raise ConfigError(f"[collector] processors = {list(s.collector.processors)!r}: "
                          "a processor appears twice")
    if s.mqtt.protocol not in MQTT_PROTOCOLS:
        raise ConfigError(f"[sources.mqtt] protocol = {s.mqtt.protocol!r}: must be one of "
                          f"{', '.join(MQTT_PROTOCOLS)}")
    if s.mqtt.share_group and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", s.mqtt.share_group):
        raise ConfigError(f"[sources.mqtt] share_group = {s.mqtt.share_group!r}: must be 1-64 "
                          "letters, digits, '_', '.' or '-'")
    if s.spool.max_bytes < 4 * s.spool.segment_bytes:
        raise ConfigError(f"[spool] max_bytes = {s.spool.max_bytes}: must be at least 4 × "
                          f"segment_bytes ({4 * s.spool.segment_bytes})")
    c = s.collector  # a refused message's line is at most twice its payload, plus the reason
    if c.dead_letters_max_bytes < 4 * (2 * c.max_payload_bytes + 4096):
        raise ConfigError(f"[collector] dead_letters_max_bytes = {c.dead_letters_max_bytes}: "
                          f"must hold 4 refused messages of max_payload_bytes "
                          f"({4 * (2 * c.max_payload_bytes + 4096)})")
    if s.mqtt.reconnect_min_s > s.mqtt.reconnect_max_s:
        raise ConfigError(f"[sources.mqtt] reconnect_min_s = {s.mqtt.reconnect_min_s!r}: "
                          f"must not exceed reconnect_max_s = {s.mqtt.reconnect_max_s!r}")
    if s.influxdb.retry_initial_s > s.influxdb.retry_max_s:
        raise ConfigError(f"[sinks.influxdb] retry_initial_s = {s.influxdb.retry_initial_s!r}: "
                          f"must not exceed retry_max_s = {s.influxdb.retry_max_s!r}")
    import boards

    try:
        boards.registry(s.collector.registry)
    except boards.BoardsError as e:
        raise ConfigError(f"[collector] registry = {s.collector.registry!r}: {e}") from None
    if "qc" in s.collector.processors:
        from collector.processors.qc.limits import LimitsError, registry_limits

        try:
            registry_limits(s.collector.registry, s.qc.limits or None)
        except LimitsError as e:
            raise ConfigError(f"[processors.qc] limits = {s.qc.limits!r}: {e}") from None
    from collector.processors.alerts.options import check_derived

    check_derived(s, ConfigError)  # aggregate before indices and alerts; rules, mutes
    from collector.camera.plugin import check as check_camera
    from collector.egov.plugin import check as check_egov
    from collector.sinks.notify.plugin import check as check_notify

    check_camera(s, ConfigError)  # registry camera objects, snapshot_urls
    check_egov(s, ConfigError)  # URLs, file-name codes, symbols
    check_notify(s, ConfigError)  # no SMTP login in clear text


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines; blank lines and `#` comments skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (run `quantrac services up` first)") from None
    env = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{n}: {line!r} is not KEY=value")
        env[key.strip()] = value.strip()
    return env


def services_env(run_dir: Path) -> dict[str, str]:
    """The run folder's services env, through collector.services when it is installed."""
    try:
        from collector.services import ServicesError, load_env
    except ImportError:
        return read_env_file(Path(run_dir) / "services.env")
    try:
        return dict(load_env(run_dir))
    except ServicesError as e:
        raise ConfigError(str(e)) from None


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not TOML ({e})") from None


def load(run_dir: str | Path, config_file: str | Path | None = None) -> Settings:
    """Settings for a run folder, with options from `config_file` (TOML) when given."""
    run_dir = Path(run_dir)
    options = load_toml(Path(config_file)) if config_file else {}
    return Settings.from_env(services_env(run_dir), run_dir, options)


def with_options(settings: Settings, **groups: Mapping[str, Any]) -> Settings:
    """A copy with some options changed, e.g. `with_options(s, mqtt={"client_id": "x"})`."""
    names = {_attr(k): k for k in SECTIONS}
    changes = {}
    for attr, values in groups.items():
        if attr not in names:
            raise ConfigError(f"{attr}: not an option group (known: {', '.join(names)})")
        current = dataclasses.asdict(getattr(settings, attr))
        changes[attr] = build(SECTIONS[names[attr]], {**current, **values}, names[attr])
    out = dataclasses.replace(settings, **changes)
    _check_cross(out)
    return out
