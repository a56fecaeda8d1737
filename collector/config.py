"""The collector's settings: connections from the run folder's services.env, options from an
optional TOML file (layout and defaults in collector/sample.toml).

Every default sits beside its option with its accepted range, and every error names the key and
the value, so a typo in a config file stops the collector at start instead of at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

KNOWN_PROCESSORS = ("validate",)
DEFAULT_TOPICS = ("quantrac/v1/+/data", "quantrac/v1/+/status", "quantrac/v1/+/event")
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
    processors: tuple[str, ...] = opt(("validate",), doc="processor chain, in order")
    queue_size: int = opt(10000, 1, 10_000_000, "messages held between source and worker")
    dead_letters: str = opt("", doc="dead-letter file; empty: <run_dir>/collector/…")
    stop_timeout_s: float = opt(10.0, 0, 3600, "how long stop() keeps retrying a write")
    summary_interval_s: float = opt(60.0, 1, 86400, "period of the one-line log summary")


@dataclass(frozen=True)
class MqttOptions:
    """[sources.mqtt]"""

    client_id: str = opt("quantrac-collector", doc="MQTT client id; names the broker session")
    topics: tuple[str, ...] = opt(DEFAULT_TOPICS, doc="subscriptions")
    qos: int = opt(1, 0, 2, "subscription QoS")
    keepalive_s: int = opt(30, 5, 3600, "MQTT keepalive")
    reconnect_min_s: float = opt(1.0, 0.1, 3600, "first reconnect delay")
    reconnect_max_s: float = opt(30.0, 0.1, 3600, "longest reconnect delay")
    connect_wait_s: float = opt(10.0, 0, 3600, "start() waits this long for the first subscription")


@dataclass(frozen=True)
class ValidateOptions:
    """[processors.validate]"""

    max_future_s: int = opt(600, 0, 86400, "records further ahead of the receive time are refused")


@dataclass(frozen=True)
class InfluxOptions:
    """[sinks.influxdb]"""

    batch_size: int = opt(5000, 1, 1_000_000, "readings per write")
    flush_interval_s: float = opt(0.5, 0.01, 3600, "longest a reading waits for its batch")
    timeout_s: float = opt(10.0, 0.1, 600, "HTTP timeout of one write")
    retry_initial_s: float = opt(0.5, 0.01, 3600, "first back-off after a failed write")
    retry_max_s: float = opt(60.0, 0.01, 86400, "longest back-off")


SECTIONS: dict[str, type] = {
    "collector": CollectorOptions,
    "sources.mqtt": MqttOptions,
    "processors.validate": ValidateOptions,
    "sinks.influxdb": InfluxOptions,
}


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
    mqtt: MqttOptions = MqttOptions()
    validate: ValidateOptions = ValidateOptions()
    influxdb: InfluxOptions = InfluxOptions()

    @property
    def dead_letters(self) -> Path:
        path = self.collector.dead_letters
        return Path(path) if path else self.run_dir / "collector" / "dead-letters.jsonl"

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
        lines.append(f"dead_letters = {self.dead_letters}")
        for section, cls in SECTIONS.items():
            group = getattr(self, _attr(section))
            for f in fields(cls):
                lines.append(f"{section}.{f.name} = {_show(getattr(group, f.name))}")
        return lines


def _attr(section: str) -> str:
    return {"collector": "collector", "sources.mqtt": "mqtt", "processors.validate": "validate",
            "sinks.influxdb": "influxdb"}[section]


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(repr(v) for v in value) + "]"
    return repr(value)


def _options(doc: Mapping[str, Any]) -> dict[str, Any]:
    """TOML tables → option dataclasses, refusing unknown tables and keys by name."""
    tables: dict[str, Mapping[str, Any]] = {}
    for top, body in doc.items():
        if top == "collector":
            tables["collector"] = body
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
        elif isinstance(default, bool) or isinstance(value, bool):
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
