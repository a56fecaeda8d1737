"""Broker accounts in Mosquitto's dynamic-security plugin: who may log in, with which client id,
and what each may publish and subscribe to.

Why the plugin and not a password file and ACL: Mosquitto's password file cannot tie an account
to a client id, so any password could connect under the collector's id and take over its
persistent session (the broker then drops the readings queued for it, already acknowledged to
their stations). The plugin binds a station account to its own id (`clientid`), and ships with
Debian's mosquitto 2.0.11.

The plugin owns its JSON file while the broker runs (it rewrites it after every change), so the
file is written here only while the broker is stopped; a running broker is brought to the wanted
accounts through the plugin's control topic, by the admin account, with only the commands that
differ (`commands`), so nobody connected is kicked for nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field

from collector.services.state import ServicesError

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
# Mosquitto 2.0.11's own choices (mosquitto_ctrl dynsec init writes them): 12-byte salt,
# 101 PBKDF2-SHA512 iterations.
ITERATIONS = 101
SALT_BYTES = 12
CONTROL_TIMEOUT_S = 10.0

# Everything not granted below is refused; receiving is allowed because subscribing is not.
DEFAULT_ACCESS = {"publishClientSend": False, "publishClientReceive": True,
                  "subscribe": False, "unsubscribe": True}

Acl = tuple[str, str]  # (acltype, topic)


@dataclass(frozen=True)
class Account:
    """One broker login: its password, its role, and the only client id it may use (None: any,
    for the services, whose sessions each keep an id of their own)."""

    password: str
    role: str
    clientid: str | None = None


@dataclass
class Wanted:
    roles: dict[str, list[Acl]] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)


def password_fields(password: str, salt: bytes | None = None,
                    iterations: int = ITERATIONS) -> dict:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": iterations}


def password_matches(password: str, client: dict) -> bool:
    """Whether the plugin's stored hash of `client` is `password`."""
    try:
        salt = base64.b64decode(client["salt"], validate=True)
        iterations = int(client["iterations"])
        stored = client["password"]
    except (KeyError, TypeError, ValueError):
        return False
    if not 0 < iterations <= 10_000_000 or not isinstance(stored, str):
        return False
    return hmac.compare_digest(password_fields(password, salt, iterations)["password"], stored)


def _acls(acls: list[Acl]) -> list[dict]:
    return [{"acltype": t, "topic": topic, "priority": 0, "allow": True} for t, topic in acls]


def render(wanted: Wanted, previous: dict | None = None) -> dict:
    """The plugin's whole file for `wanted`; a client whose stored hash still matches keeps it,
    so an unchanged account list writes the same file."""
    old = {c.get("username"): c for c in (previous or {}).get("clients", [])
           if isinstance(c, dict)}
    clients = []
    for name in sorted(wanted.accounts):
        a = wanted.accounts[name]
        kept = old.get(name)
        pw = ({k: kept[k] for k in ("password", "salt", "iterations")}
              if kept and password_matches(a.password, kept) else password_fields(a.password))
        c = {"username": name, **pw, "roles": [{"rolename": a.role}]}
        if a.clientid is not None:
            c["clientid"] = a.clientid
        clients.append(c)
    roles = [{"rolename": r, "acls": _acls(wanted.roles[r])} for r in sorted(wanted.roles)]
    return {"defaultACLAccess": DEFAULT_ACCESS, "clients": clients, "groups": [], "roles": roles}


def _have_acls(role: dict) -> set[Acl]:
    return {(a.get("acltype"), a.get("topic")) for a in role.get("acls", [])
            if isinstance(a, dict) and a.get("allow", False)}


def commands(current: dict, wanted: Wanted) -> list[dict]:
    """The control commands that turn the plugin's `current` file into `wanted`, in an order
    the plugin accepts (roles before the clients that name them, deletions last)."""
    roles = {r.get("rolename"): r for r in current.get("roles", []) if isinstance(r, dict)}
    clients = {c.get("username"): c for c in current.get("clients", []) if isinstance(c, dict)}
    out: list[dict] = []
    for name in sorted(wanted.roles):
        want = set(wanted.roles[name])
        if name not in roles:
            out.append({"command": "createRole", "rolename": name})
            have: set[Acl] = set()
        else:
            have = _have_acls(roles[name])
            stale = [a for a in roles[name].get("acls", [])
                     if (a.get("acltype"), a.get("topic")) not in want or not a.get("allow")]
            out += [{"command": "removeRoleACL", "rolename": name, "acltype": a.get("acltype"),
                     "topic": a.get("topic")} for a in stale]
            have -= {(a.get("acltype"), a.get("topic")) for a in stale}
        out += [{"command": "addRoleACL", "rolename": name, **acl}
                for acl in _acls(sorted(want - have))]
    for name in sorted(wanted.accounts):
        a, c = wanted.accounts[name], clients.get(name)
        if c is None:
            new = {"command": "createClient", "username": name, "password": a.password,
                   "roles": [{"rolename": a.role}]}
            if a.clientid is not None:
                new["clientid"] = a.clientid
            out.append(new)
            continue
        if not password_matches(a.password, c):
            out.append({"command": "setClientPassword", "username": name,
                        "password": a.password})
        if c.get("clientid") != a.clientid:
            cmd = {"command": "setClientId", "username": name}
            if a.clientid is not None:
                cmd["clientid"] = a.clientid
            out.append(cmd)
        have_roles = {r.get("rolename") for r in c.get("roles", []) if isinstance(r, dict)}
        out += [{"command": "removeClientRole", "username": name, "rolename": r}
                for r in sorted(have_roles - {a.role})]
        if a.role not in have_roles:
            out.append({"command": "addClientRole", "username": name, "rolename": a.role})
        if c.get("disabled"):
            out.append({"command": "enableClient", "username": name})
    out += [{"command": "deleteClient", "username": n} for n in sorted(clients)
            if n not in wanted.accounts]
    out += [{"command": "deleteRole", "rolename": r} for r in sorted(roles)
            if r not in wanted.roles]
    return out


def send(host: str, port: int, admin: tuple[str, str], cmds: list[dict],
         timeout: float = CONTROL_TIMEOUT_S) -> None:
    """Run `cmds` on the broker's plugin as the admin account; raise naming the first refusal."""
    import paho.mqtt.client as mqtt

    if not cmds:
        return
    answered = threading.Event()
    reply: dict = {}
    ready = threading.Event()
    refused: list[str] = []

    def on_connect(client, _u, _f, rc, _p):
        if rc.is_failure:
            refused.append(str(rc))
            ready.set()
            return
        client.subscribe(RESPONSE_TOPIC, qos=1)

    def on_message(_c, _u, msg):
        try:
            reply.update(json.loads(msg.payload))
        except ValueError:
            reply["unreadable"] = msg.payload[:200]
        answered.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"{admin[0]}-{secrets.token_hex(4)}")
    client.username_pw_set(*admin)
    client.on_connect = on_connect
    client.on_subscribe = lambda *_a: ready.set()
    client.on_message = on_message
    try:
        client.connect(host, port)
    except OSError as e:
        raise ServicesError(f"broker at {host}:{port}: cannot reach it to change accounts "
                            f"({e})") from None
    client.loop_start()
    try:
        if not ready.wait(timeout) or refused:
            raise ServicesError(
                f"broker at {host}:{port} refused its admin account "
                f"({refused[0] if refused else 'no answer'}); `quantrac services down` and "
                "`up` rewrite its accounts from the run folder's secrets")
        client.publish(CONTROL_TOPIC, json.dumps({"commands": cmds}), qos=1)
        if not answered.wait(timeout):
            raise ServicesError(f"broker at {host}:{port}: no answer to {len(cmds)} account "
                                f"changes within {timeout:.0f} s")
    finally:
        client.disconnect()
        client.loop_stop()
    errors = [(c, r.get("error")) for c, r in zip(cmds, reply.get("responses", []), strict=False)
              if isinstance(r, dict) and r.get("error")]
    if errors or "responses" not in reply:
        cmd, why = errors[0] if errors else ({"command": "?"}, reply)
        what = cmd.get("username") or cmd.get("rolename") or ""
        raise ServicesError(f"broker refused {cmd['command']} {what}: {why}")
