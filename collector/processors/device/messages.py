"""One station `status` or `event` message → the fields of one `device` point (pure).

A field a station sent with the wrong type is left out and named in the problems, so one bad
value never costs the rest of the message; a message that is not a JSON object of protocol v1
for its topic's station yields no point and one problem saying why.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

EARLIEST = 1704067200  # 2024-01-01: nothing before is valid station time (protocol-v1 schema)
FUTURE_S = 600  # a station clock this far ahead of the receive time is not trusted
MAX_TEXT = 64
BOOT = re.compile(r"^[0-9a-f]{8}$")
# event name → its members stored as fields (text or integer); other events (command acks) are
# answers to operators, not device facts, and are not stored
EVENTS: dict[str, dict[str, type]] = {
    # slot: the update slot the boot runs, "a" or "b"; "-" for modules in no slot
    "birth": {"fw": str, "reset": str, "crumb": str, "boots": int, "uptime_before": int,
              "slot": str},
    "health": {"heap": int, "backlog": int, "dropped": int, "rssi": int, "uptime": int},
    # a firmware update's outcome (firmware station/ota.py): the last update result per station
    "ota": {"state": str, "ver": str, "why": str},
}

Fields = dict[str, float | int | bool | str]


class DeviceMessageError(ValueError):
    """The message cannot become a device point; the text says what is wrong."""


def _int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and math.isfinite(x) and x == int(x):
        return int(x)
    return None


def _text(x: Any) -> str | None:
    return x if isinstance(x, str) and 0 < len(x) <= MAX_TEXT else None


def _put(out: Fields, problems: list[str], where: str, key: str, want: type, x: Any) -> None:
    if x is None:
        return  # absent, or null (no RSSI on a wired link): nothing to store
    value = _int(x) if want is int else _text(x)
    if value is None:
        what = "an integer" if want is int else f"text of 1-{MAX_TEXT} characters"
        problems.append(f"{where}.{key}: {x!r} is not {what}")
    else:
        out[key] = value


def _errors(out: Fields, problems: list[str], where: str, x: Any) -> None:
    """`errors` is {name: count}; stored as the total and as `name=count` text."""
    if x is None:
        return
    if not isinstance(x, dict):
        problems.append(f"{where}.errors: {x!r} is not an object of counts")
        return
    counts = {}
    for name, n in sorted(x.items()):
        if _int(n) is None or _int(n) < 0 or not re.fullmatch(r"[a-z0-9_]{1,24}", name):
            problems.append(f"{where}.errors.{name}: {n!r} is not a count")
        else:
            counts[name] = _int(n)
    out["errors"] = sum(counts.values())
    if counts:
        out["errors_by"] = " ".join(f"{k}={v}" for k, v in counts.items())[:256]


def message_time(doc: dict, received_at: float) -> int:
    """The station's `t` when its clock is plausible, else the time the collector got it."""
    t = _int(doc.get("t"))
    if t is not None and EARLIEST <= t <= received_at + FUTURE_S:
        return t
    return int(received_at)


def parse(station: str, topic_kind: str, payload: bytes, received_at: float
          ) -> tuple[str, Fields, int, list[str]] | None:
    """(message, fields, time, problems) for a status or a stored event; None for an event
    that is not stored (an ack). Raises DeviceMessageError for an unusable message."""
    try:
        doc = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DeviceMessageError(f"payload is not UTF-8: {e}") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise DeviceMessageError(f"payload is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise DeviceMessageError(f"payload is a JSON {type(doc).__name__}, not an object")
    if doc.get("v") != 1:
        raise DeviceMessageError(f"v: {doc.get('v')!r} is not protocol version 1")
    if doc.get("st") != station:
        raise DeviceMessageError(f"st: {doc.get('st')!r} differs from the topic's station "
                                 f"{station!r}")
    problems: list[str] = []
    fields: Fields = {}
    boot = doc.get("boot")
    if boot is not None:
        if isinstance(boot, str) and BOOT.fullmatch(boot):
            fields["boot"] = boot
        else:
            problems.append(f"{topic_kind}.boot: {boot!r} is not 8 hex digits")
    if topic_kind == "status":
        if not isinstance(doc.get("online"), bool):
            raise DeviceMessageError(f"online: {doc.get('online')!r} is not true or false")
        fields["online"] = doc["online"]
        _put(fields, problems, "status", "fw", str, doc.get("fw"))
        return "status", fields, message_time(doc, received_at), problems
    ev = doc.get("ev")
    if not isinstance(ev, str):
        raise DeviceMessageError(f"ev: {ev!r} is not an event name")
    if ev not in EVENTS:
        return None
    for key, want in EVENTS[ev].items():
        _put(fields, problems, ev, key, want, doc.get(key))
    if ev == "health":
        _errors(fields, problems, ev, doc.get("errors"))
    if not set(fields) - {"boot"}:
        raise DeviceMessageError(f"{ev}: none of {', '.join(EVENTS[ev])} is usable")
    return ev, fields, message_time(doc, received_at), problems
