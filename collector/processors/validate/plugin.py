"""Protocol-v1 data messages → readings, or a whole-message rejection naming what is wrong.

The checks run in the order a reader would ask them: is the topic a known station's, is the
payload UTF-8 JSON without NaN/Infinity, does it match docs/protocol-v1.schema.json, is it from
the station the topic names, does that station carry each parameter in that unit, and is no
record from the future. A message with any bad part is refused whole, so a half-stored message
never needs explaining. `validate()` is a pure function; the processor only feeds it.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import fastjsonschema

import boards
from collector.contracts import QC_NOT_EVALUATED, Batch, Envelope, Reading, Rejected, topic_parts
from collector.dead_letters import HEAD_BYTES
from quantrac.paths import PROTOCOL_SCHEMA

log = logging.getLogger("quantrac.collector.validate")
PARAM = re.compile(r"^[a-z0-9_]{1,16}$")


class Invalid(ValueError):
    """Why a message is refused: `cls` is the short reason class metrics count by."""

    def __init__(self, cls: str, reason: str) -> None:
        super().__init__(reason)
        self.cls = cls
        self.reason = reason


@dataclass(frozen=True)
class StationFacts:
    kind: str
    params: dict[str, str]


@cache
def schema_validator():
    return fastjsonschema.compile(json.loads(PROTOCOL_SCHEMA.read_text(encoding="utf-8")))


@cache
def station_facts(registry: str) -> dict[str, StationFacts]:
    return {s.id: StationFacts(s.kind, s.params()) for s in boards.registry(registry).stations}


class NonFinite:
    """Stands in for NaN, Infinity or a number too large for a float. No schema type accepts
    it, so the schema check refuses it with the path where it sits."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _float(text: str) -> float | NonFinite:
    x = float(text)
    return x if math.isfinite(x) else NonFinite(text[:24])


def parse(payload: bytes) -> Any:
    """UTF-8 JSON → Python; NaN, Infinity and overflowing numbers become `NonFinite`."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid("encoding", f"payload is not UTF-8: {e}") from None
    try:
        return json.loads(text, parse_constant=NonFinite, parse_float=_float)
    except json.JSONDecodeError as e:
        raise Invalid("json", f"payload is not JSON: {e}") from None
    except (ValueError, RecursionError) as e:  # e.g. an integer of more than 4300 digits
        raise Invalid("json", f"payload is not JSON: {e}") from None


def _where(name: str) -> str:
    """fastjsonschema's 'data.r[0].d' → 'r[0].d'; the root is 'payload'."""
    return "payload" if name == "data" else name.removeprefix("data.")


def schema_reason(e: fastjsonschema.JsonSchemaValueException) -> str:
    where = _where(e.name)
    if e.rule == "required" and isinstance(e.value, dict):
        missing = [k for k in e.rule_definition if k not in e.value]
        return f"{where}: missing {', '.join(repr(k) for k in missing)}"
    if e.rule == "propertyNames" and isinstance(e.value, dict):
        bad = [k for k in e.value if not PARAM.match(k)]
        return f"{where}: parameter name {', '.join(repr(k) for k in bad)} is not [a-z0-9_]{{1,16}}"
    if e.rule == "additionalProperties" and isinstance(e.value, dict):
        msg = e.message.removeprefix(e.name).strip()
        return f"{where}: {msg}"
    msg = e.message.removeprefix(e.name).strip()
    shown = repr(e.value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{where}: {msg}, got {shown}"


def _number(x: float | int | None, where: str) -> float | None:
    if x is None:
        return None
    try:
        return float(x)
    except OverflowError:
        raise Invalid("nonfinite", f"{where}: {x} is too large for a number") from None


def validate(env: Envelope, registry: str = "phu-quoc", max_future_s: int = 600) -> list[Reading]:
    """The readings in one data message, or `Invalid` naming the first thing wrong with it."""
    parts = topic_parts(env.topic)
    if parts is None or parts[1] != "data":
        raise Invalid("topic", f"topic {env.topic!r} is not quantrac/v1/<station>/data")
    station = parts[0]
    facts = station_facts(registry)
    if station not in facts:
        raise Invalid("unknown_station",
                      f"topic: {station!r} is not a station of registry {registry!r}")
    msg = parse(env.payload)
    try:
        schema_validator()(msg)
    except fastjsonschema.JsonSchemaValueException as e:
        if isinstance(e.value, NonFinite):
            raise Invalid("nonfinite", f"{_where(e.name)}: {e.value.text} is not a finite "
                                       "number (JSON has no NaN or Infinity)") from None
        raise Invalid("schema", schema_reason(e)) from None
    st = msg["st"]
    if st not in facts:
        raise Invalid("unknown_station", f"st: {st!r} is not a station of registry {registry!r}")
    if st != station:
        raise Invalid("mismatch", f"st: {st!r} differs from the topic's station {station!r}")
    have = facts[station]
    latest = env.received_at + max_future_s  # timestamp sanity; the schema bounds the past
    out: list[Reading] = []
    kind, params, boot, seq = have.kind, have.params, msg["boot"], int(msg["seq"])
    for i, rec in enumerate(msg["r"]):
        t = int(rec["t"])  # JSON Schema lets 1.7e9 pass as an integer; store a real int
        if t > latest:
            raise Invalid("future", f"r[{i}].t: {t} is {t - env.received_at:.0f} s after the "
                                    f"receive time (limit {max_future_s} s)")
        for param, arr in rec["d"].items():
            unit = arr[1]
            want = params.get(param)
            if want is None:
                raise Invalid("unknown_param",
                              f"r[{i}].d.{param}: station {station} has no sensor for "
                              f"{param!r} (it carries {', '.join(params)})")
            if unit != want:
                raise Invalid("unit", f"r[{i}].d.{param}: unit {unit!r} differs from the "
                                      f"registry's {want!r}")
            try:  # positional and without a per-reading `where`: this loop runs per reading
                value = None if arr[0] is None else float(arr[0])
                lo = float(arr[5]) if len(arr) > 5 and arr[5] is not None else None
                hi = float(arr[6]) if len(arr) > 6 and arr[6] is not None else None
            except OverflowError:
                raise Invalid("nonfinite", _overflow(arr, f"r[{i}].d.{param}")) from None
            out.append(Reading(station, kind, param, unit, t, value, int(arr[2]),
                               QC_NOT_EVALUATED, int(arr[3]), int(arr[4]), lo, hi, 0, None,
                               boot, seq))
    return out


def _overflow(arr: list, where: str) -> str:
    """The reason `_number` gives for the first number of `arr` too large for a float."""
    for i in (0, 5, 6):
        if i < len(arr):
            try:
                _number(arr[i], where)
            except Invalid as e:
                return e.reason
    return f"{where}: a number is too large"


def oversized(env: Envelope, limit: int) -> Rejected | None:
    """A message longer than `limit` bytes, refused by its length alone: checked before
    anything decodes it, and before any stage sees it (status and event too)."""
    n = len(env.payload)
    if n <= limit:
        return None
    return Rejected(env, f"payload of {n} bytes is over the limit of {limit} bytes "
                         "([collector] max_payload_bytes): only its sha256 and first "
                         f"{HEAD_BYTES} bytes are kept", "size")


class ValidateProcessor:
    """Turns the batch's data envelopes into readings; refused ones go to `batch.rejected`."""

    name = "validate"

    def __init__(self, registry: str = "phu-quoc", max_future_s: int = 600) -> None:
        self.registry = registry
        self.max_future_s = max_future_s
        schema_validator()
        station_facts(registry)

    def process(self, batch: Batch) -> Batch:
        for env in batch.envelopes:
            parts = topic_parts(env.topic)
            if parts is not None and parts[1] != "data":
                continue  # status and event are counted by the pipeline, not stored (yet)
            try:
                batch.readings.extend(validate(env, self.registry, self.max_future_s))
            except Invalid as e:
                batch.rejected.append(Rejected(env, e.reason, e.cls))
            except Exception as e:  # a validator bug must not stall the stream: keep the input
                log.exception("validator failed on %s", env.topic)
                batch.rejected.append(Rejected(env, f"validator error: {e!r}", "internal"))
        return batch
