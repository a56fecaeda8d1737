"""Every station's firmware as the stations themselves told it: `quantrac fleet status`.

Two sources, each for what only it has:

- the broker's retained messages (operator account): `status` (online, the running `fw`) and
  the wanted version on `fw` (what the operations room asked for);
- the `device` measurement (read-only user; the collector's device stage stores every `status`,
  `birth` and `ota` event): the last `ota` event (the last update result: state, version, why,
  when) and the last `birth` (the boot reason: reset cause and the breadcrumb of what the
  station was doing; its `fw` stands in for the version while no retained status is there).

The slot comes from the newest birth: a station says which slot its boot runs (`"slot"`:
`a` or `b`, firmware station/assemble.py), and `-` when its modules are in no slot (flashed
by `quantrac station flash` without OTA, the unix port run from its sources), shown as `none`.
A slot changes only at a boot, so the newest birth is the slot that runs now. A station on
firmware older than that sends no `slot`: for it, `slot` says what can be told from its `ota`
events: `trial` while the version staged last runs without its `good` yet, `good` once any
update result is known (the running slot is the one marked good), unknown otherwise.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass

import paho.mqtt.client as mqtt

from quantrac_common import influxql
from quantrac_common.protocol import PREFIX

SETTLE_S = 0.5  # the retained messages arrive right after the SUBACK


@dataclass
class StationFirmware:
    station: str
    online: bool | None = None
    version: str | None = None
    slot: str | None = None
    wanted: str | None = None
    update: str | None = None  # the last ota event's state
    update_version: str | None = None
    why: str | None = None
    update_at: int | None = None
    boot: str | None = None  # reset cause (and breadcrumb)
    boot_at: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def retained(env: dict[str, str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """({station: retained status}, {station: retained wanted version}) from the broker."""
    statuses: dict[str, dict] = {}
    wanted: dict[str, dict] = {}
    lock = threading.Lock()
    ready = threading.Event()

    def on_message(client, userdata, msg) -> None:
        parts = msg.topic.split("/")
        try:
            doc = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            return
        if len(parts) != 4 or not isinstance(doc, dict):
            return
        with lock:
            (statuses if parts[3] == "status" else wanted)[parts[2]] = doc

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                           env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    client.on_connect = lambda c, *a: c.subscribe([(f"{PREFIX}/+/status", 1),
                                                   (f"{PREFIX}/+/fw", 1)])
    client.on_subscribe = lambda *a: ready.set()
    client.on_message = on_message
    host, port = env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"])
    try:
        client.connect(host, port)
    except OSError as e:
        raise RuntimeError(f"broker at {host}:{port}: {e}") from None
    client.loop_start()
    try:
        if not ready.wait(10):
            raise RuntimeError(f"broker at {host}:{port}: no answer to the operator's "
                               "subscription")
        time.sleep(SETTLE_S)
    finally:
        client.loop_stop()
        client.disconnect()
    with lock:
        return dict(statuses), dict(wanted)


def _latest(env: dict[str, str], message: str, fields: tuple[str, ...]) -> dict[str, dict]:
    """The newest `device` point of `message` per station (all its fields from that point:
    last() per field would mix a newer event's state with an older one's `why`)."""
    cols = ", ".join(influxql.quote_ident(f) for f in fields)
    q = (f"SELECT {cols} FROM device WHERE message = {influxql.quote_string(message)} "
         "GROUP BY station ORDER BY time DESC LIMIT 1")
    return {r["station"]: r for r in influxql.rows(influxql.query(env, q))}


def stored(env: dict[str, str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """({station: last ota event}, {station: last birth}) from the device measurement."""
    return (_latest(env, "ota", ("state", "ver", "why")),
            _latest(env, "birth", ("reset", "crumb", "fw", "slot")))


def boot_reason(birth: dict) -> str | None:
    reset = birth.get("reset")
    crumb = birth.get("crumb")
    if not reset:
        return None
    return f"{reset} ({crumb})" if crumb and crumb != "none" else reset


NO_SLOT = "none"  # the birth's "-": the modules run from no slot


def slot_state(version: str | None, ota: dict) -> str | None:
    """Older firmware's slot, guessed from its last `ota` event."""
    state = ota.get("state")
    if not state:
        return None
    if state == "staged" and (version is None or version == ota.get("ver")):
        return "trial"
    return "good"


def running_slot(version: str | None, birth: dict, ota: dict) -> str | None:
    """The slot the newest birth names, else the guess from the `ota` events."""
    said = birth.get("slot")
    if said:
        return NO_SLOT if said == "-" else said
    return slot_state(version, ota)


def fleet(stations: list[str], statuses: dict[str, dict], wanted: dict[str, dict],
          ota: dict[str, dict], births: dict[str, dict]) -> list[StationFirmware]:
    out = []
    for st in stations:
        s, w, o, b = (statuses.get(st, {}), wanted.get(st, {}), ota.get(st, {}),
                      births.get(st, {}))
        version = s.get("fw") or b.get("fw")
        out.append(StationFirmware(
            station=st, online=s.get("online") if "online" in s else None, version=version,
            slot=running_slot(version, b, o), wanted=w.get("ver"), update=o.get("state"),
            update_version=o.get("ver"), why=o.get("why"), update_at=o.get("time"),
            boot=boot_reason(b), boot_at=b.get("time")))
    return out
