"""The plugin registry: each plugin module registers itself at import with one `Plugin` record
(its name, options class, `build`, `check` and ordering), and the collector finds plugins by
importing packages, never by a list of names.

    collector/sources/*/plugin.py, processors/*/plugin.py, sinks/*/plugin.py,
    collector/*/plugin.py (camera, egov), metrics_export.py   ← built in, found by walking
    [collector] plugins = ["my_module"], plugin_paths = [...]  ← a deployment's own

A plugin sees its own options (one TOML table) and an `Env`: the connections, the folders, the
registry name, the processor chain (names, read-only), and the options of the plugins it
declared in `reads`. Nothing else, so no plugin imports `collector.config`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

KINDS = ("source", "processor", "sink", "output", "service")
# "sink": the database the spool drains into; "output": an alert output (retained MQTT,
# webhook, e-mail); "service": beside the chain (metrics, cameras, e-gov)
TABLE_PREFIX = {"source": "sources.", "processor": "processors.", "sink": "sinks.",
                "output": "sinks.", "service": ""}
BUILTIN_PACKAGES = ("collector.sources", "collector.processors", "collector.sinks", "collector")
BUILTIN_MODULES = ("collector.metrics_export",)  # a plugin that is one module, not a folder


class ConfigError(ValueError):
    """A setting is missing or outside what the collector accepts; the message names it."""


@dataclass(frozen=True)
class Env:
    """What every plugin is given besides its own options."""

    run_dir: Path
    data_dir: Path
    registry: str
    chain: tuple[str, ...]  # the processors, in order
    mqtt_host: str
    mqtt_port: int
    mqtt_user: str
    mqtt_password: str = field(repr=False)
    influx_write_url: str
    influx_db: str
    influx_write_user: str
    influx_write_password: str = field(repr=False)
    services: Callable[[], Mapping[str, str]] = field(repr=False, default=dict)
    peers: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def peer(self, name: str) -> Any:
        """The options of another plugin, if this one declared it in `reads`."""
        try:
            return self.peers[name]
        except KeyError:
            raise KeyError(f"{name!r}: not in this plugin's `reads`") from None


@dataclass(frozen=True)
class Plugin:
    """One plugin. `build(options, env)` makes it (a service's build takes what it wraps as
    a third argument, see collector/README.md); `check(options, env)` refuses at load what
    would fail later, raising ValueError (the table is added to its message). A processor's
    `check` runs only when it is in the chain.

    Ordering (processors): `first` (a reason): the chain must begin with this one; `after`:
    processors that must come before it when it is in the chain."""

    kind: str
    name: str
    options: type
    build: Callable[..., Any]
    check: Callable[[Any, Env], None] | None = None
    after: tuple[str, ...] = ()
    first: str = ""
    reads: tuple[str, ...] = ()
    module: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"plugin {self.name!r}: kind {self.kind!r} is not one of "
                             f"{', '.join(KINDS)}")
        if not self.name.isidentifier():
            raise ValueError(f"plugin {self.name!r}: the name must be a Python identifier")

    @property
    def table(self) -> str:
        return TABLE_PREFIX[self.kind] + self.name


_REGISTRY: dict[str, Plugin] = {}
_BY_MODULE: dict[str, tuple[str, ...]] = {}  # module → the names it registered
_builtins: tuple[str, ...] | None = None


def register(plugin: Plugin) -> Plugin:
    """Called by a plugin module at import. A name is one plugin's: a second module claiming
    it is an error (re-importing the same module replaces its own)."""
    module = plugin.module or getattr(plugin.build, "__module__", "")
    plugin = Plugin(**{**plugin.__dict__, "module": module})
    old = _REGISTRY.get(plugin.name)
    if old is not None and old.module != module:
        raise ConfigError(f"plugin {plugin.name!r} from {module} is already registered by "
                          f"{old.module}")
    if plugin.name in ("collector", "spool"):
        raise ConfigError(f"plugin {plugin.name!r} from {module}: that name is the collector's")
    _REGISTRY[plugin.name] = plugin
    return plugin


def _import(module: str) -> tuple[str, ...]:
    """Import `module` and return the names it registered (remembered across calls)."""
    if module not in _BY_MODULE:
        before = set(_REGISTRY)
        importlib.import_module(module)
        _BY_MODULE[module] = tuple(n for n in _REGISTRY if n not in before
                                   or _REGISTRY[n].module == module)
    return _BY_MODULE[module]


def builtins() -> tuple[str, ...]:
    """The names of the plugins that ship with the collector, in discovery order."""
    global _builtins
    if _builtins is None:
        names: list[str] = []
        for package in BUILTIN_PACKAGES:
            for path in importlib.import_module(package).__path__:
                for child in pkgutil.iter_modules([path]):
                    if child.ispkg and (Path(path) / child.name / "plugin.py").is_file():
                        names += _import(f"{package}.{child.name}.plugin")
        for module in BUILTIN_MODULES:
            names += _import(module)
        _builtins = tuple(dict.fromkeys(names))
    return _builtins


def catalog(modules: Iterable[str] = (), paths: Iterable[str | Path] = ()
            ) -> dict[str, Plugin]:
    """The built-in plugins and those registered by `modules` (dotted names, looked up in
    `paths` first, then where Python finds modules), by name in discovery order."""
    names = list(builtins())
    for folder in paths:
        folder = str(Path(folder))
        if not Path(folder).is_dir():
            raise ConfigError(f"[collector] plugin_paths: {folder!r} is not a folder")
        if folder not in sys.path:
            sys.path.insert(0, folder)  # stays: a plugin may import its siblings later
    importlib.invalidate_caches()
    for module in modules:
        try:
            found = _import(module)
        except ConfigError:
            raise
        except ImportError as e:
            raise ConfigError(f"[collector] plugins: {module!r} cannot be imported ({e})"
                              ) from None
        except Exception as e:  # a plugin's own bug at import: name it, not a traceback
            raise ConfigError(f"[collector] plugins: importing {module!r} failed: {e!r}"
                              ) from None
        if not found:
            raise ConfigError(f"[collector] plugins: {module!r} registers no plugin "
                              "(it must call collector.plugins.register)")
        names += found
    return {n: _REGISTRY[n] for n in dict.fromkeys(names)}
