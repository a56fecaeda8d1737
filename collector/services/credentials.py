"""Passwords: generated once per run folder, kept in 0600 files, hashed for Mosquitto.

Service passwords live in `secrets/passwords.json`, station passwords in `secrets/stations.json`
(station id → password, what each board's secrets file holds). Both are read back on every
`up`, so a password never changes under a running client; only missing ones are generated.
The broker stores them hashed (collector/services/dynsec.py).
"""

from __future__ import annotations

import secrets

from collector.services.state import Layout, ServicesError, read_json, write_json

# Login names; the passwords behind them are generated.
MQTT_ADMIN_USER = "broker-admin"  # changes the broker's accounts; nothing else
MQTT_COLLECTOR_USER = "collector"
MQTT_OPERATOR_USER = "operator"
MQTT_REPLAY_USER = "replay"  # `collector dead-letters replay` re-publishing station messages
MQTT_BENCH_USER = "bench"  # only on a bench's own stack (`services.up(..., bench=True)`)
MQTT_FORECAST_USER = "forecaster"  # forecast/: publishes its warnings' retained topic only
INFLUX_ADMIN_USER = "admin"
INFLUX_WRITE_USER = "writer"
INFLUX_READ_USER = "reader"
SERVICE_ACCOUNTS = ("mqtt_admin", "mqtt_collector", "mqtt_operator", "mqtt_replay",
                    "mqtt_bench", "mqtt_forecaster", "influx_admin", "influx_writer",
                    "influx_reader")
RESERVED_MQTT_USERS = (MQTT_ADMIN_USER, MQTT_COLLECTOR_USER, MQTT_OPERATOR_USER,
                       MQTT_REPLAY_USER, MQTT_BENCH_USER, MQTT_FORECAST_USER)


def new_password() -> str:
    # URL-safe letters only: no quoting trouble in InfluxQL, URLs, env files or shell.
    return secrets.token_urlsafe(24)


def _kept(path, wanted: list[str]) -> dict[str, str]:
    """Stored passwords for `wanted` names, new ones for the missing; written back if changed."""
    stored = read_json(path)
    bad = [k for k, v in stored.items() if not isinstance(v, str) or not v]
    if bad:
        raise ServicesError(f"{path}: {', '.join(bad)} has no password string; fix or remove it")
    kept = {name: stored.get(name) or new_password() for name in wanted}
    if kept != stored:
        write_json(path, kept)
    return kept


def _private_dir(layout: Layout) -> None:
    layout.secrets.mkdir(parents=True, exist_ok=True)
    layout.secrets.chmod(0o700)


def service_passwords(layout: Layout) -> dict[str, str]:
    """account (SERVICE_ACCOUNTS) → password."""
    _private_dir(layout)
    return _kept(layout.service_secrets, list(SERVICE_ACCOUNTS))


def station_passwords(layout: Layout, station_ids: list[str]) -> dict[str, str]:
    """station id → MQTT password for every registry station; stations no longer in the
    registry lose theirs (and with it their broker account)."""
    clash = sorted(set(station_ids) & {*RESERVED_MQTT_USERS, "alerts"})
    if clash:
        raise ServicesError(f"boards registry: station id {clash[0]!r} is reserved "
                            "(a broker account or topic level of the collector)")
    _private_dir(layout)
    return _kept(layout.station_secrets, sorted(station_ids))


DEFAULT_REGISTRY = "phu-quoc"


def _registries_file(layout: Layout):
    return layout.secrets / "registries.json"


def registries(layout: Layout) -> list[str]:
    """The registries this run folder's broker accounts come from: the default network, and
    every other registry (a name under boards/registry, or a file's absolute path) that
    `quantrac station credentials --registry` gave a station an account from."""
    kept = read_json(_registries_file(layout)).get("registries", [])
    return [DEFAULT_REGISTRY, *[r for r in kept if isinstance(r, str) and r != DEFAULT_REGISTRY]]


def remember_registry(layout: Layout, locator: str) -> None:
    have = registries(layout)
    if locator not in have:
        _private_dir(layout)
        write_json(_registries_file(layout), {"registries": [*have[1:], locator]})


def registry_station_ids(layout: Layout) -> list[str]:
    """Every station id of every registry in `registries()`; a station in several (a copy of
    the network to try things on) is one account."""
    import boards

    ids: set[str] = set()
    for loc in registries(layout):
        try:
            reg = boards.registry(loc) if "/" not in loc else \
                boards.registry.__wrapped__(loc.removesuffix(".json"))
        except (boards.BoardsError, OSError, ValueError) as e:
            raise ServicesError(
                f"registry {loc} (listed in {_registries_file(layout)}, which keeps its "
                f"stations' broker accounts) cannot be read: {e}. Restore it, or remove it "
                "from that file to drop those accounts") from None
        ids.update(reg.ids())
    return sorted(ids)
