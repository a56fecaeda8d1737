"""The collector's settings: connections from the run folder's services.env, options from an
optional TOML file (layout and defaults in collector/sample.toml).

Every default sits beside its option with its accepted range, and every error names the key and
the value, so a typo in a config file stops the collector at start instead of at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlparse

from collector import plugins
from collector.plugins import ConfigError, Env, Plugin

__all__ = ["CollectorOptions", "ConfigError", "Settings", "SpoolOptions", "build", "load",
           "with_options"]
# the default chain: an option's default, like the rest of sample.toml; any registered
# processor may be named in [collector] processors
DEFAULT_PROCESSORS = ("validate", "units", "dedupe", "qc", "aggregate", "indices", "alerts",
                      "device")
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
    plugins: tuple[str, ...] = opt((), doc="modules of your own plugins, dotted names")
    plugin_paths: tuple[str, ...] = opt((), doc="folders searched first for those modules")


@dataclass(frozen=True)
class SpoolOptions:
    """[spool]"""

    max_bytes: int = opt(1 << 30, 1 << 20, 1 << 40, "disk the spool may use")
    segment_bytes: int = opt(8 << 20, 1 << 16, 1 << 30, "size of one segment file")
    high_water: float = opt(0.8, 0.1, 1.0, "share of max_bytes that raises the alert")


CORE: dict[str, type] = {"collector": CollectorOptions, "spool": SpoolOptions}


@dataclass(frozen=True)
class Settings:
    """Everything the collector runs from. Build with `Settings.from_env` or `load`.

    `settings.<plugin name>` is that plugin's options (`settings.mqtt`, `settings.qc`, …);
    `settings.env_for(name)` the environment that plugin is built with."""

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
    options: Mapping[str, Any] = field(default_factory=dict)  # plugin name → its options

    def __getattr__(self, name: str) -> Any:
        # only reached when no field has the name: a plugin's options
        if not name.startswith("_"):
            options = self.__dict__.get("options", {})
            if name in options:
                return options[name]
        raise AttributeError(f"Settings has no {name!r} (plugins: "
                             f"{', '.join(self.__dict__.get('options', {}))})")

    @functools.cached_property
    def plugins(self) -> dict[str, Plugin]:
        """The plugins these settings know: built in, and named by [collector] plugins (looked
        up once: env_for, build and describe ask for every plugin)."""
        return plugins.catalog(self.collector.plugins, self.collector.plugin_paths)

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

    def env_for(self, name: str) -> Env:
        """The environment plugin `name` is checked and built with: connections, folders, the
        chain, and the options of the plugins it `reads`."""
        plugin = self.plugins[name]
        return Env(run_dir=self.run_dir, data_dir=self.data_dir, registry=self.collector.registry,
                   chain=tuple(self.collector.processors),
                   **{k: getattr(self, k) for k in ENV_KEYS},
                   services=lambda: services_env(self.run_dir),
                   peers=MappingProxyType({p: self.options[p] for p in plugin.reads}))

    def build(self, name: str, *args: Any) -> Any:
        """Plugin `name` built from its options and environment (`args`: what a service
        wraps)."""
        return self.plugins[name].build(self.options[name], self.env_for(name), *args)

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
        settings = cls(run_dir=Path(run_dir), **conn, **_options(options or {}))
        _check(settings)
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
        groups = [*((t, getattr(self, t)) for t in CORE),
                  *((p.table, self.options[p.name]) for p in self.plugins.values())]
        for table, group in groups:
            for f in fields(group):
                lines.append(f"{table}.{f.name} = {_show(getattr(group, f.name))}")
        return lines


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
    """TOML tables → the core option groups and every known plugin's options (defaults for
    a table not given), refusing unknown tables and keys by name."""
    def table(section: str, values: Any) -> Mapping[str, Any]:
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}]: must be a table, got {values!r}")
        return values

    out: dict[str, Any] = {}
    for top, cls in CORE.items():
        out[top] = build(cls, table(top, doc.get(top, {})), top)
    known = plugins.catalog(out["collector"].plugins, out["collector"].plugin_paths)
    by_table = {p.table: p for p in known.values()}
    tables = [*CORE, *by_table]
    given: dict[str, Any] = {}
    for top, body in doc.items():
        if top in CORE:
            continue
        if top in by_table:
            given[top] = body
        elif top in ("sources", "processors", "sinks") and isinstance(body, Mapping):
            for name, sub in body.items():
                section = f"{top}.{name}"
                if section not in by_table:
                    raise ConfigError(f"[{section}]: unknown table (known: {', '.join(tables)})")
                given[section] = sub
        else:
            raise ConfigError(f"[{top}]: unknown table (known: {', '.join(tables)})")
    out["options"] = {p.name: build(p.options, table(t, given.get(t, {})), t)
                      for t, p in by_table.items()}
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


def _check(s: Settings) -> None:
    """The collector's own options, the chain's order, then each plugin's `check` (a
    processor's only when it is in the chain)."""
    c, known = s.collector, s.plugins
    chain = list(c.processors)
    processors = [p for p in known.values() if p.kind == "processor"]
    for name in chain:
        if name not in known or known[name].kind != "processor":
            raise ConfigError(f"[collector] processors: {name!r} is not a processor "
                              f"(known: {', '.join(p.name for p in processors)})")
    for p in processors:
        if p.first and p.name not in chain[:1]:
            raise ConfigError(f"[collector] processors = {chain!r}: {p.name!r} must come "
                              f"first ({p.first})")
    if len(set(chain)) != len(chain):
        raise ConfigError(f"[collector] processors = {chain!r}: a processor appears twice")
    for name in chain:
        for before in known[name].after:
            if before not in chain or chain.index(before) > chain.index(name):
                raise ConfigError(f"[collector] processors = {chain!r}: {name!r} needs "
                                  f"{before!r} before it")
    if s.spool.max_bytes < 4 * s.spool.segment_bytes:
        raise ConfigError(f"[spool] max_bytes = {s.spool.max_bytes}: must be at least 4 × "
                          f"segment_bytes ({4 * s.spool.segment_bytes})")
    # a refused message's line is at most twice its payload, plus the reason
    if c.dead_letters_max_bytes < 4 * (2 * c.max_payload_bytes + 4096):
        raise ConfigError(f"[collector] dead_letters_max_bytes = {c.dead_letters_max_bytes}: "
                          f"must hold 4 refused messages of max_payload_bytes "
                          f"({4 * (2 * c.max_payload_bytes + 4096)})")
    import boards

    try:
        boards.registry(c.registry)
    except boards.BoardsError as e:
        raise ConfigError(f"[collector] registry = {c.registry!r}: {e}") from None
    for p in known.values():
        if p.check is None or (p.kind == "processor" and p.name not in chain):
            continue
        try:
            p.check(s.options[p.name], s.env_for(p.name))
        except ConfigError:
            raise
        except ValueError as e:
            text = str(e)
            raise ConfigError(text if text.startswith("[") else f"[{p.table}] {text}") from None


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
    """Settings for a run folder, with options from `config_file` (TOML) when given; a
    relative `plugin_paths` entry is relative to the file's folder."""
    run_dir = Path(run_dir)
    options = load_toml(Path(config_file)) if config_file else {}
    c = options.get("collector")
    if config_file and isinstance(c, Mapping) and isinstance(c.get("plugin_paths"), list):
        here = Path(config_file).resolve().parent
        options = {**options, "collector": {**c, "plugin_paths": [
            str(here / p) if isinstance(p, str) else p for p in c["plugin_paths"]]}}
    return Settings.from_env(services_env(run_dir), run_dir, options)


def with_options(settings: Settings, **groups: Mapping[str, Any]) -> Settings:
    """A copy with some options changed, e.g. `with_options(s, mqtt={"client_id": "x"})`:
    `collector`, `spool` or a plugin's name."""
    known = settings.plugins
    changes: dict[str, Any] = {}
    options = dict(settings.options)
    for attr, values in groups.items():
        if attr in CORE:
            current = dataclasses.asdict(getattr(settings, attr))
            changes[attr] = build(CORE[attr], {**current, **values}, attr)
        elif attr in known:
            current = dataclasses.asdict(options[attr])
            options[attr] = build(known[attr].options, {**current, **values}, known[attr].table)
        else:
            raise ConfigError(f"{attr}: not an option group (known: "
                              f"{', '.join([*CORE, *known])})")
    out = dataclasses.replace(settings, **changes, options=options)
    if "collector" in changes:  # plugins it now names get their defaults
        out = dataclasses.replace(out, options={
            **{n: p.options() for n, p in out.plugins.items()}, **options})
    _check(out)
    return out
