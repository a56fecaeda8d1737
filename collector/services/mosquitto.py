"""Our Mosquitto 2.0: mosquitto.conf and the broker's accounts, generated from the registry.

A station logs in only with its own id as client id, may publish only under its own
`quantrac/v1/<id>/` prefix and read only its own `cmd`, `config` and firmware update (`fw`,
`fw/<index>`); the collector reads every
station and publishes alerts; the operator sends commands and configs, answers alerts
(acknowledge, silence: `quantrac/v1/<station>/answer`, nobody else may) and reads everything;
dead-letter replay (and, on a bench's own stack, the benches) publish station messages under
accounts of their own. Nobody connects without a password. Accounts live in the
dynamic-security plugin (collector/services/dynsec.py says why).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from collector.services import credentials, dynsec, procs
from collector.services.ports import HOST
from collector.services.state import Layout, ServicesError, read_json
from quantrac_common.files import write_atomic
from quantrac_common.protocol import (
    ANSWER,
    PREFIX,
    STATION_READS,
    STATION_WRITES,
    UPDATE,
    UPDATE_CHUNKS,
)

NAME = "mosquitto"

# Limits sized so a long collector outage loses nothing (see the comments in the conf).
MAX_QUEUED_MESSAGES = 1_000_000
MAX_QUEUED_BYTES = 1 << 30
MAX_INFLIGHT_MESSAGES = 100
PERSISTENT_CLIENT_EXPIRATION = "30d"
AUTOSAVE_INTERVAL_S = 60
# The largest legitimate packet: a station's data message is built in its `backlog.msg_bytes`
# buffer, at most 65,536 bytes (firmware/config.py), plus topic and header; a config pushed
# to a station is far smaller. Twice that leaves room and still refuses a payload that could
# fill the collector's disk (the broker disconnects the sender; nobody receives it).
MAX_PACKET_BYTES = 131_072
ADMIN_ROLE = "admin"
# A station's second login, for `quantrac station commission`'s check from the board: same
# password and rights, its own client id, so the check never touches the session (and queued
# commands) of the station's own id. A '.' cannot occur in a station id.
COMMISSION_SUFFIX = ".commission"
CONTROL = f"{dynsec.CONTROL_TOPIC.rsplit('/', 1)[0]}/#"
PLUGIN_NAME = "mosquitto_dynamic_security.so"


def binary() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def conf_path(layout: Layout) -> Path:
    return layout.mosquitto / "mosquitto.conf"


def log_path(layout: Layout) -> Path:
    return layout.mosquitto / "mosquitto.log"


def argv(layout: Layout) -> list[str]:
    # Relative to the broker's folder, its working directory: started as root, the broker runs
    # as the services account, which may not traverse the folders above the run folder (a
    # pytest tmp dir, /root); a process started inside a folder needs no path to it.
    return [binary(), "-c", conf_path(layout).name]


def dynsec_path(layout: Layout) -> Path:
    return layout.mosquitto / "dynamic-security.json"


def plugin_path() -> str:
    """Where the distribution put the dynamic-security plugin (Debian: the multiarch lib dir)."""
    for d in sorted(Path("/usr/lib").glob("*-linux-gnu*")) + [Path("/usr/lib"),
                                                             Path("/usr/local/lib")]:
        if (d / PLUGIN_NAME).exists():
            return str(d / PLUGIN_NAME)
    raise ServicesError(f"{PLUGIN_NAME} not found under /usr/lib: it ships with the mosquitto "
                        "package (2.0 or later); run scripts/setup")


def tls_dir(layout: Layout) -> Path:
    """CA, server certificate and key, and listener.json ({"port": N}) for the TLS listener,
    written by `quantrac station credentials --tls` (quantrac/field/tls.py)."""
    return layout.mosquitto / "tls"


def tls_listener(layout: Layout) -> tuple[str, int] | None:
    """(address, port) the TLS listener binds when its certificates are in place, else None
    (no listener). The address is loopback unless `station credentials --tls-listen` gave
    the one the stations reach (0.0.0.0 or the server's own address in the field)."""
    d = tls_dir(layout)
    if not all((d / name).exists() for name in ("ca.crt", "server.crt", "server.key")):
        return None
    try:
        doc = json.loads((d / "listener.json").read_text())
        port, bind = doc.get("port"), doc.get("bind", "127.0.0.1")
    except (OSError, ValueError, AttributeError):
        return None
    if not (isinstance(port, int) and 0 < port < 65536 and isinstance(bind, str) and bind):
        return None
    return bind, port


def tls_port(layout: Layout) -> int | None:
    """The TLS listener's port, None when there is no listener."""
    found = tls_listener(layout)
    return found[1] if found else None


def _tls_listener(layout: Layout) -> str:
    found = tls_listener(layout)
    if found is None:
        return ""
    bind, port = found
    d = tls_dir(layout).relative_to(layout.mosquitto)
    return f"""
# TLS for stations outside the loopback: only clients with a certificate signed by our CA, and
# still with their password (the ACL keys on the user name, so a certificate alone is no login).
listener {port} {bind}
cafile {d / "ca.crt"}
certfile {d / "server.crt"}
keyfile {d / "server.key"}
require_certificate true
use_identity_as_username false
tls_version tlsv1.2
"""


def render_conf(layout: Layout, port: int, user: str) -> str:
    return f"""\
# Generated by `quantrac services up` (collector/services/mosquitto.py); edits are overwritten.
# Only settings that differ from Mosquitto 2.0's defaults are here, each with its reason.
# Paths are relative to this folder, the broker's working directory (see `argv`).

# One set of security settings for the whole broker rather than per listener: the plain and
# the TLS listener check the same accounts and ACL, so they cannot drift apart.
per_listener_settings false

# Loopback only, on a port chosen free at `up` (a system broker may already hold 1883).
listener {port} 127.0.0.1
{_tls_listener(layout)}
# Every client is a registry station or one of our services, each with a password. Accounts
# live in the dynamic-security plugin because only it binds a station's login to its own
# client id: with a password file, one station's password could take over the collector's
# persistent session (and the readings queued in it) by connecting under the collector's id.
allow_anonymous false
plugin {plugin_path()}
plugin_opt_config_file {dynsec_path(layout).name}

# Refuse any packet over {MAX_PACKET_BYTES} bytes: twice a station's largest message (its
# 64 KiB backlog.msg_bytes buffer). One station must not be able to fill the collector's disk.
max_packet_size {MAX_PACKET_BYTES}

# Persistent sessions and their queued QoS 1 messages survive a broker restart (default: kept
# in memory only); saved every minute, not every 30, so a crash loses at most a minute. The
# file lands in the working directory, this folder.
persistence true
persistence_file mosquitto.db
autosave_interval {AUTOSAVE_INTERVAL_S}

# A log file under the run folder instead of stderr/syslog, so `up` can show why it failed.
log_dest file {log_path(layout).name}
log_type error
log_type warning
log_type notice
log_type information
connection_messages true

# The default queue (1000 messages per offline persistent session) silently drops the rest:
# a collector restart during a backlog drain of 26 stations would lose data. 1,000,000
# messages (~300 bytes each) is months of normal traffic; the byte cap bounds broker memory.
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes {MAX_QUEUED_BYTES}
# Default 20 in flight per client stalls a collector draining a backlog over loopback.
max_inflight_messages {MAX_INFLIGHT_MESSAGES}
# Default: persistent sessions never expire; a decommissioned client's queue would grow forever.
persistent_client_expiration {PERSISTENT_CLIENT_EXPIRATION}

# Started as root, `services up` already runs the broker as the services account (see
# collector/services/procs.py); this line only keeps Mosquitto from switching to its own
# `mosquitto` user, which could not read this folder.
user {user}
"""


def roles(station_ids: list[str]) -> dict[str, list[dynsec.Acl]]:
    """What each kind of account may do: a role per service, one per station."""
    station_topics = [f"{PREFIX}/+/{leaf}" for leaf in STATION_WRITES]
    out: dict[str, list[dynsec.Acl]] = {
        ADMIN_ROLE: [(t, CONTROL) for t in ("publishClientSend", "publishClientReceive",
                                            "subscribePattern")],
        # `$share/<group>/…`: Mosquitto 2.0.11's plugin checks a shared subscription with its
        # prefix (collectors in one share group split the stream).
        credentials.MQTT_COLLECTOR_USER: [("subscribePattern", f"{PREFIX}/#"),
                                          ("subscribePattern", f"$share/+/{PREFIX}/#"),
                                          # one level: alerts/<station>, never the
                                          # forecaster's alerts/<station>/forecast below it
                                          ("publishClientSend", f"{PREFIX}/alerts/+")],
        # forecast warnings on a retained topic of their own, so that they never overwrite
        # the collector's retained alert state (its `open` list) on alerts/<station>
        credentials.MQTT_FORECAST_USER: [("publishClientSend", f"{PREFIX}/alerts/+/forecast")],
        credentials.MQTT_OPERATOR_USER: [
            ("subscribePattern", "#"), ("subscribePattern", "$SYS/#"),
            *(("publishClientSend", f"{PREFIX}/+/{leaf}") for leaf in STATION_READS),
            # firmware rollouts: the wanted version and the bundle's chunks
            ("publishClientSend", f"{PREFIX}/+/{UPDATE}"),
            ("publishClientSend", f"{PREFIX}/+/{UPDATE_CHUNKS}"),
            # answers to alerts (acknowledge, silence): the operator's alone, no station's
            # and not the collector's, so an acknowledgement always comes from a person
            ("publishClientSend", f"{PREFIX}/+/{ANSWER}")],
        # Dead-letter replay re-publishes a refused message to its own station's topic.
        credentials.MQTT_REPLAY_USER: [("publishClientSend", t) for t in station_topics],
        credentials.MQTT_BENCH_USER: [("publishClientSend", t) for t in station_topics],
    }
    for sid in station_ids:
        out[f"station-{sid}"] = [
            *(("publishClientSend", f"{PREFIX}/{sid}/{leaf}") for leaf in STATION_WRITES),
            *(("subscribeLiteral", f"{PREFIX}/{sid}/{leaf}") for leaf in STATION_READS),
            # its own wanted version, and its update's chunks one at a time (station/ota.py)
            ("subscribeLiteral", f"{PREFIX}/{sid}/{UPDATE}"),
            ("subscribePattern", f"{PREFIX}/{sid}/{UPDATE_CHUNKS}")]
    return out


def wanted(services: dict[str, str], stations: dict[str, str]) -> dynsec.Wanted:
    """The broker's accounts: `services` (login -> password: the admin, collector, operator,
    replay and, on a bench's stack, bench accounts) and `stations` (id -> password), each
    station bound to its own id as client id."""
    accounts = {name: dynsec.Account(pw, ADMIN_ROLE if name == credentials.MQTT_ADMIN_USER
                                     else name)
                for name, pw in services.items()}
    for sid, pw in stations.items():
        for login in (sid, sid + COMMISSION_SUFFIX):
            accounts[login] = dynsec.Account(pw, f"station-{sid}", clientid=login)
    all_roles = roles(sorted(stations))
    used = {a.role for a in accounts.values()}
    return dynsec.Wanted({r: acls for r, acls in all_roles.items() if r in used}, accounts)


def _replace(path: Path, text: str, mode: int) -> bool:
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, text, mode=mode)
    return True


def current_accounts(layout: Layout) -> dict:
    """The plugin's file as it is now ({} before the first start)."""
    return read_json(dynsec_path(layout))


def write_conf(layout: Layout, port: int) -> bool:
    """Write mosquitto.conf; whether it changed."""
    layout.mosquitto.mkdir(parents=True, exist_ok=True)
    for stale in ("passwd", "acl"):  # replaced by the plugin's file: no second source of truth
        (layout.mosquitto / stale).unlink(missing_ok=True)
    changed = _replace(conf_path(layout), render_conf(layout, port, procs.daemon_user()), 0o600)
    procs.hand_over(layout.mosquitto)
    return changed


def write_accounts(layout: Layout, accounts: dynsec.Wanted) -> None:
    """Write the plugin's file for a broker that is not running (it owns the file meanwhile)."""
    layout.mosquitto.mkdir(parents=True, exist_ok=True)
    doc = dynsec.render(accounts, current_accounts(layout))
    _replace(dynsec_path(layout), json.dumps(doc, indent=1) + "\n", 0o600)
    procs.hand_over(layout.mosquitto)


def apply_accounts(layout: Layout, port: int, accounts: dynsec.Wanted) -> int:
    """Bring a running broker to `accounts` over the control topic; how many changes it took."""
    cmds = dynsec.commands(current_accounts(layout), accounts)
    admin = accounts.accounts[credentials.MQTT_ADMIN_USER]
    dynsec.send(HOST, port, (credentials.MQTT_ADMIN_USER, admin.password), cmds)
    return len(cmds)


def needs_restart(layout: Layout, before: str) -> bool:
    """Whether a conf change is one SIGHUP does not apply (a listener or the plugin)."""
    def fixed(text: str) -> list[str]:
        return [line for line in text.splitlines()
                if line.startswith(("listener ", "plugin", "max_packet_size", "user "))]
    try:
        return fixed(before) != fixed(conf_path(layout).read_text())
    except FileNotFoundError:
        return True


def reload(pid: int) -> None:
    """Mosquitto rereads the password file and the ACL on SIGHUP, keeping every session."""
    os.kill(pid, signal.SIGHUP)
