"""The project's own Mosquitto, InfluxDB and v2-write proxy, started on free loopback ports.

Everything lives in one run folder (`quantrac_common.paths.run_dir()`): configs, data, logs,
`services.json` (what runs, with pids and ports) and `services.env` (what clients need).
`up` starts only what is not running (a service that died comes back on its old port when
that is still free) and `down` stops only processes it started.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from collector.services import credentials, dynsec, influxdb, mosquitto, ports, procs
from collector.services.state import (
    ENV_KEYS,
    Layout,
    ServicesError,
    format_env,
    locked,
    parse_env,
    read_json,
    write_json,
)
from quantrac_common import paths
from quantrac_common.files import write_private

__all__ = ["ENV_KEYS", "ServicesError", "broker_accounts", "down", "load_env", "log_paths",
           "restart_mosquitto", "status", "sync_running_broker", "up"]

PROXY = "v2proxy"
ORDER = (mosquitto.NAME, influxdb.NAME, PROXY)  # start order; `down` goes backwards
START_ATTEMPTS = 3  # a freshly picked port can be taken by someone else before the bind
# Run as the services account when started as root (procs.py says why); the loopback-only
# write proxy runs our own Python from the checkout, which that account may not reach.
UNPRIVILEGED = (mosquitto.NAME, influxdb.NAME)


def _layout(run_dir: Path | str | None) -> Layout:
    return Layout(paths.run_dir(run_dir))


def _alive(rec: dict | None) -> bool:
    return bool(rec) and procs.running(rec.get("pid"), rec.get("argv"), rec.get("cwd"))


def _stop(rec: dict) -> bool:
    return procs.stop(rec.get("pid"), rec.get("argv"), cwd=rec.get("cwd"))


def _ensure(layout: Layout, record: dict, name: str, port_keys: tuple[str, ...],
            taken: set[int], launch: Callable[[dict[str, int]], tuple[list[str], Path,
                                                                       Callable[[], bool]]],
            ) -> dict:
    """Keep `name` if it runs; else start it (previous ports if free) and wait until ready.

    `launch(ports)` writes the service's files for those ports and returns (argv, log, ready).
    """
    prev = record.get(name) or {}
    if _alive(prev):
        taken.update(prev[k] for k in port_keys)
        return prev
    attempt = 0
    while True:
        chosen = {k: ports.pick(prev.get(k) if attempt == 0 else None, taken)
                  for k in port_keys}
        argv, log, ready = launch(chosen)
        since = procs.log_size(log)
        daemon = name in UNPRIVILEGED
        pid = procs.start(argv, log, cwd=log.parent, env=_child_env(), unprivileged=daemon)
        record[name] = {"pid": pid, "argv": argv, "log": str(log), "cwd": str(log.parent),
                        **chosen}
        write_json(layout.record, record)  # so `down` finds it even if the wait fails
        try:
            procs.wait_ready(name, pid, argv, log, ready, since)
            return record[name]
        except procs.StartFailed as e:
            attempt += 1
            if "address already in use" not in e.log_text.lower() or attempt == START_ATTEMPTS:
                raise


def _child_env() -> dict[str, str]:
    # The proxy runs `python -m collector…`: make the checkout importable whatever the cwd.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.ROOT), env.get("PYTHONPATH")]))
    return env


def _mosquitto(layout: Layout, record: dict, accounts: dynsec.Wanted, taken: set[int],
               bench: bool) -> dict:
    rec = record.get(mosquitto.NAME) or {}
    if _alive(rec):
        sync_running_broker(layout, record, accounts)
        rec["bench"] = bench
        taken.add(rec["port"])
        return rec

    def launch(chosen: dict[str, int]):
        mosquitto.write_conf(layout, chosen["port"])
        mosquitto.write_accounts(layout, accounts)
        return (mosquitto.argv(layout), mosquitto.log_path(layout),
                lambda: ports.accepts(chosen["port"]))

    rec = _ensure(layout, record, mosquitto.NAME, ("port",), taken, launch)
    rec["bench"] = bench
    return rec


def sync_running_broker(layout: Layout, record: dict, accounts: dynsec.Wanted) -> int | None:
    """Bring the running broker to its conf and `accounts`: a restart for what a SIGHUP does
    not apply (None), else a SIGHUP when the conf changed and the account changes over the
    control topic (how many)."""
    rec = record[mosquitto.NAME]
    conf = mosquitto.conf_path(layout)
    before = conf.read_text() if conf.exists() else ""
    if mosquitto.write_conf(layout, rec["port"]):
        if mosquitto.needs_restart(layout, before):
            restart_mosquitto(layout, record, accounts)
            return None
        mosquitto.reload(rec["pid"])  # settings SIGHUP rereads
    return mosquitto.apply_accounts(layout, rec["port"], accounts)


def restart_mosquitto(layout: Layout, record: dict, accounts: dynsec.Wanted) -> None:
    """Stop the broker (it saves its sessions), write its accounts, start it on the same port:
    for what a SIGHUP does not apply (a new listener, the accounts plugin itself)."""
    rec = record[mosquitto.NAME]
    _stop(rec)
    mosquitto.write_accounts(layout, accounts)
    log = mosquitto.log_path(layout)
    since = procs.log_size(log)
    argv = mosquitto.argv(layout)
    pid = procs.start(argv, log, cwd=log.parent, env=_child_env(), unprivileged=True)
    rec.update(pid=pid, argv=argv, cwd=str(log.parent))
    write_json(layout.record, record)  # `down` finds the new pid even if the wait fails
    tls = mosquitto.tls_port(layout)
    procs.wait_ready(mosquitto.NAME, pid, argv, log,
                     lambda: ports.accepts(rec["port"]) and (tls is None or ports.accepts(tls)),
                     since)


def broker_accounts(layout: Layout, stations: dict[str, str], bench: bool) -> dynsec.Wanted:
    """Every broker account of this run folder: the services' and `stations` (id → password)."""
    pw = credentials.service_passwords(layout)
    services = {credentials.MQTT_ADMIN_USER: pw["mqtt_admin"],
                credentials.MQTT_COLLECTOR_USER: pw["mqtt_collector"],
                credentials.MQTT_OPERATOR_USER: pw["mqtt_operator"],
                credentials.MQTT_REPLAY_USER: pw["mqtt_replay"],
                credentials.MQTT_FORECAST_USER: pw["mqtt_forecaster"]}
    if bench:
        services[credentials.MQTT_BENCH_USER] = pw["mqtt_bench"]
    return mosquitto.wanted(services, stations)


def _influxdb(layout: Layout, record: dict, taken: set[int]) -> dict:
    def launch(chosen: dict[str, int]):
        influxdb.write_conf(layout, chosen["port"], chosen["rpc_port"])
        base = influxdb.url(chosen["port"])
        return influxdb.argv(layout), influxdb.log_path(layout), lambda: influxdb.ping(base)

    return _ensure(layout, record, influxdb.NAME, ("port", "rpc_port"), taken, launch)


def _proxy(layout: Layout, record: dict, upstream: str, taken: set[int]) -> str:
    """The URL influxdb-client writes to: the proxy when the server lacks /api/v2/write."""
    if influxdb.serves_v2_write(upstream):
        rec = record.pop(PROXY, None)
        if rec:
            _stop(rec)  # a server upgrade made it redundant
        return upstream
    log = layout.proxy / "v2proxy.log"

    def launch(chosen: dict[str, int]):
        argv = [sys.executable, "-m", "collector.services.v2proxy",
                "--listen", f"{ports.HOST}:{chosen['port']}", "--upstream", upstream,
                "--log", str(log)]
        return argv, log, lambda: influxdb.ping(influxdb.url(chosen["port"]))

    rec = record.get(PROXY) or {}
    if _alive(rec) and upstream not in rec["argv"]:
        _stop(rec)  # the server moved to another port
    return influxdb.url(_ensure(layout, record, PROXY, ("port",), taken, launch)["port"])


def up(run_dir: Path | str | None = None, bench: bool | None = None) -> dict[str, str]:
    """Start whatever is not running; write services.env; return its KEY → value dict.

    `bench`: also the `bench` broker account, which may publish as any station: only for a
    bench's (or the tests') own throwaway stack, never the network's. None keeps what the run
    folder was started with (no bench account in a new one).
    """
    layout = _layout(run_dir)
    with locked(layout):
        record = read_json(layout.record)
        if bench is None:
            bench = bool((record.get(mosquitto.NAME) or {}).get("bench"))
        pw = credentials.service_passwords(layout)
        # the registries decide the broker accounts (credentials.registries)
        stations = credentials.station_passwords(layout,
                                                 credentials.registry_station_ids(layout))
        taken: set[int] = set()
        mq = _mosquitto(layout, record, broker_accounts(layout, stations, bench), taken, bench)
        ix = _influxdb(layout, record, taken)
        base = influxdb.url(ix["port"])
        writer = (credentials.INFLUX_WRITE_USER, pw["influx_writer"])
        reader = (credentials.INFLUX_READ_USER, pw["influx_reader"])
        admin = (credentials.INFLUX_ADMIN_USER, pw["influx_admin"])
        influxdb.bootstrap(base, admin, writer, reader, layout.influxdb)
        write_url = _proxy(layout, record, base, taken)
        write_json(layout.record, record)
        env = {
            "QUANTRAC_MQTT_HOST": ports.HOST,
            "QUANTRAC_MQTT_PORT": str(mq["port"]),
            "QUANTRAC_MQTT_COLLECTOR_USER": credentials.MQTT_COLLECTOR_USER,
            "QUANTRAC_MQTT_COLLECTOR_PASSWORD": pw["mqtt_collector"],
            "QUANTRAC_MQTT_OPERATOR_USER": credentials.MQTT_OPERATOR_USER,
            "QUANTRAC_MQTT_OPERATOR_PASSWORD": pw["mqtt_operator"],
            "QUANTRAC_MQTT_REPLAY_USER": credentials.MQTT_REPLAY_USER,
            "QUANTRAC_MQTT_REPLAY_PASSWORD": pw["mqtt_replay"],
            "QUANTRAC_MQTT_FORECAST_USER": credentials.MQTT_FORECAST_USER,
            "QUANTRAC_MQTT_FORECAST_PASSWORD": pw["mqtt_forecaster"],
            "QUANTRAC_INFLUX_URL": base,
            "QUANTRAC_INFLUX_WRITE_URL": write_url,
            "QUANTRAC_INFLUX_DB": influxdb.DATABASE,
            "QUANTRAC_INFLUX_WRITE_USER": writer[0],
            "QUANTRAC_INFLUX_WRITE_PASSWORD": writer[1],
            "QUANTRAC_INFLUX_READ_USER": reader[0],
            "QUANTRAC_INFLUX_READ_PASSWORD": reader[1],
            "QUANTRAC_INFLUX_ADMIN_USER": admin[0],
            "QUANTRAC_INFLUX_ADMIN_PASSWORD": admin[1],
            "QUANTRAC_STATION_SECRETS": str(layout.station_secrets),
        }
        if bench:
            env["QUANTRAC_MQTT_BENCH_USER"] = credentials.MQTT_BENCH_USER
            env["QUANTRAC_MQTT_BENCH_PASSWORD"] = pw["mqtt_bench"]
        text = format_env(env)
        if not layout.env.exists() or layout.env.read_text() != text:
            write_private(layout.env, text)
        return env


def down(run_dir: Path | str | None = None) -> list[str]:
    """Stop the services this run folder started; the names of those that were running."""
    layout = _layout(run_dir)
    with locked(layout):
        record = read_json(layout.record)
        stopped = []
        for name in reversed(ORDER):
            rec = record.get(name)
            if rec and _stop(rec):
                stopped.append(name)
            if rec:
                rec["pid"] = None  # the ports stay recorded: the next `up` reuses them
        if record:
            write_json(layout.record, record)
        return stopped


def status(run_dir: Path | str | None = None) -> list[dict]:
    """One row per service: name, pid, port, running."""
    record = read_json(_layout(run_dir).record)
    rows = []
    for name in ORDER:
        rec = record.get(name)
        if rec is None and name == PROXY:
            continue  # only exists in front of a server without /api/v2/write
        rec = rec or {}
        alive = _alive(rec)
        rows.append({"name": name, "pid": rec.get("pid") if alive else None,
                     "port": rec.get("port"), "running": alive})
    return rows


def registries(run_dir: Path | str | None = None) -> list[str]:
    """The registries (names or files) whose stations have broker accounts here."""
    return credentials.registries(_layout(run_dir))


def load_env(run_dir: Path | str | None = None) -> dict[str, str]:
    """services.env as a dict (what `up` returned last); clear error if `up` never ran."""
    return parse_env(_layout(run_dir).env)


def log_paths(run_dir: Path | str | None = None) -> dict[str, Path]:
    """Where each service logs, for error messages and `quantrac services status`."""
    layout = _layout(run_dir)
    return {mosquitto.NAME: mosquitto.log_path(layout), influxdb.NAME: influxdb.log_path(layout),
            PROXY: layout.proxy / "v2proxy.log"}

