"""A station's broker account: its password, the broker's accounts, the TLS listener.

Station passwords live where `quantrac services up` keeps them (`secrets/stations.json` in the
run folder) and reach Mosquitto only hashed, through the same code `up` uses
(`collector.services.broker_accounts`). A running broker takes account changes over its
dynamic-security control topic; a new listener needs a restart, which keeps its port and pid
record so `services down` still stops it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from collector import services
from collector.services import credentials, mosquitto, ports, procs
from collector.services.state import Layout, locked, read_json, write_json
from quantrac.field.tls import Authority
from quantrac_common import paths

TLS_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class BrokerChange:
    """What happened to the running broker after an account change, in words for the user."""

    action: str  # "reloaded", "restarted", "written" (not running) or "not set up"
    detail: str


def layout(run_dir: Path | str | None) -> Layout:
    return Layout(paths.run_dir(run_dir))


def station_password(lay: Layout, station_id: str, rotate: bool = False) -> str:
    """The station's MQTT password: kept if it has one (unless `rotate`), else a new one."""
    stored = read_json(lay.station_secrets)
    if rotate and station_id in stored:
        del stored[station_id]
        write_json(lay.station_secrets, stored)
    wanted = sorted({*stored, station_id})
    return credentials.station_passwords(lay, wanted)[station_id]


def ensure_tls(lay: Layout, hosts: tuple[str, ...] = TLS_HOSTS,
               listen: tuple[str, int] | None = None) -> Authority:
    """CA (kept), broker certificate for `hosts` (renewed when they change), the listener's
    address and port: `listen` when given (the field: 0.0.0.0:8883), else the ones kept, else
    a free loopback port (a bench or a test)."""
    d = mosquitto.tls_dir(lay)
    d.mkdir(parents=True, exist_ok=True)
    ca = Authority.ensure(d / "ca.crt", lay.secrets / "tls-ca.key")
    wanted = sorted(hosts)
    listener = d / "listener.json"
    current = read_json(listener)
    if current.get("hosts") != wanted or not (d / "server.crt").exists():
        ca.server(d, list(hosts))
    bind, port = listen if listen else (current.get("bind", ports.HOST), current.get("port"))
    if listen is None and bind == ports.HOST and (
            not isinstance(port, int) or not ports.is_free(port) and not _ours(lay, port)):
        port = ports.free_port()
    listener.write_text(json.dumps({"port": port, "bind": bind, "hosts": wanted}) + "\n")
    return ca


def _ours(lay: Layout, port: int) -> bool:
    rec = read_json(lay.record).get(mosquitto.NAME) or {}
    return procs.running(rec.get("pid"), rec.get("argv"), rec.get("cwd")) and \
        mosquitto.tls_port(lay) == port


def apply(lay: Layout) -> BrokerChange:
    """Bring the broker to every stored account: over its control topic while it runs, with a
    restart when its listeners changed (a SIGHUP does not open or close one)."""
    with locked(lay):
        record = read_json(lay.record)
        rec = record.get(mosquitto.NAME)
        if not rec or not rec.get("port"):
            return BrokerChange("not set up", f"no broker was ever started in {lay.root}; "
                                "`quantrac services up` creates it with this account")
        wanted = services.broker_accounts(lay, read_json(lay.station_secrets),
                                          bool(rec.get("bench")))
        if not procs.running(rec.get("pid"), rec.get("argv"), rec.get("cwd")):
            mosquitto.write_conf(lay, rec["port"])
            mosquitto.write_accounts(lay, wanted)
            return BrokerChange("written", "the broker is not running; it starts with these "
                                "accounts at the next `quantrac services up`")
        changes = services.sync_running_broker(lay, record, wanted)
        if changes is None:
            return BrokerChange("restarted", f"pid {rec['pid']}, TLS port "
                                f"{mosquitto.tls_port(lay)}")
        return BrokerChange("reloaded", f"pid {rec['pid']}: {changes} account changes"
                            if changes else "nothing changed")
