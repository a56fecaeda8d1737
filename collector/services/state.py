"""The run folder's layout and the files that record what runs: services.json and services.env."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from quantrac_common.files import read_json_object, write_private

# Exactly the keys docs/architecture.md lists, in that order.
ENV_KEYS = (
    "QUANTRAC_MQTT_HOST", "QUANTRAC_MQTT_PORT",
    "QUANTRAC_MQTT_COLLECTOR_USER", "QUANTRAC_MQTT_COLLECTOR_PASSWORD",
    "QUANTRAC_MQTT_OPERATOR_USER", "QUANTRAC_MQTT_OPERATOR_PASSWORD",
    "QUANTRAC_MQTT_REPLAY_USER", "QUANTRAC_MQTT_REPLAY_PASSWORD",
    "QUANTRAC_MQTT_FORECAST_USER", "QUANTRAC_MQTT_FORECAST_PASSWORD",
    "QUANTRAC_INFLUX_URL", "QUANTRAC_INFLUX_WRITE_URL", "QUANTRAC_INFLUX_DB",
    "QUANTRAC_INFLUX_WRITE_USER", "QUANTRAC_INFLUX_WRITE_PASSWORD",
    "QUANTRAC_INFLUX_READ_USER", "QUANTRAC_INFLUX_READ_PASSWORD",
    "QUANTRAC_INFLUX_ADMIN_USER", "QUANTRAC_INFLUX_ADMIN_PASSWORD",
    "QUANTRAC_STATION_SECRETS",
)
# Only on a bench's own stack (`services.up(..., bench=True)`).
BENCH_ENV_KEYS = ("QUANTRAC_MQTT_BENCH_USER", "QUANTRAC_MQTT_BENCH_PASSWORD")


class ServicesError(RuntimeError):
    """A local service could not be configured, started, stopped or found."""


@dataclass(frozen=True)
class Layout:
    """Where each service keeps its files inside one run folder."""

    root: Path

    @property
    def env(self) -> Path:
        return self.root / "services.env"

    @property
    def record(self) -> Path:
        return self.root / "services.json"

    @property
    def lock(self) -> Path:
        return self.root / "services.lock"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def station_secrets(self) -> Path:
        return self.secrets / "stations.json"

    @property
    def service_secrets(self) -> Path:
        return self.secrets / "passwords.json"

    @property
    def mosquitto(self) -> Path:
        return self.root / "mosquitto"

    @property
    def influxdb(self) -> Path:
        return self.root / "influxdb"

    @property
    def proxy(self) -> Path:
        return self.root / "proxy"


def read_json(path: Path) -> dict:
    """A run-folder record (services.json, passwords.json, …): {} before the first write, a
    ServicesError naming the file when it holds anything but a JSON object."""
    return read_json_object(path, ServicesError)


def write_json(path: Path, doc: dict) -> None:
    write_private(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def format_env(env: dict[str, str]) -> str:
    missing = [k for k in ENV_KEYS if k not in env]
    extra = [k for k in env if k not in ENV_KEYS and k not in BENCH_ENV_KEYS]
    if missing or extra:
        raise ServicesError(f"services.env keys: missing {missing}, unexpected {extra}")
    for key, value in env.items():
        if "\n" in str(value) or "\r" in str(value):
            raise ServicesError(f"services.env: {key} holds a line break")
    return "".join(f"{k}={env[k]}\n" for k in (*ENV_KEYS, *BENCH_ENV_KEYS) if k in env)


def parse_env(path: Path) -> dict[str, str]:
    """KEY=value lines; blank lines and # comments skipped; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ServicesError(
            f"{path}: no such file; start the services first (`quantrac services up`)"
        ) from None
    env = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ServicesError(f"{path}:{n}: {line[:40]!r} is not KEY=value")
        env[key.strip()] = value
    return env


@contextmanager
def locked(layout: Layout) -> Iterator[None]:
    """Serialise `up` and `down` on one run folder (two terminals, two test sessions)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
