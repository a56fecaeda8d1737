"""Protocol-v1 data messages → readings, or a whole-message rejection naming what is wrong.

The checks run in the order a reader would ask them: is the topic a known station's, is the
payload UTF-8 JSON without NaN/Infinity that matches docs/protocol-v1.schema.json (one msgspec
pass from bytes to typed structs, `wire.py`; `refusals.py` names what is wrong), is it from
the station the topic names, does that station carry each parameter in that unit, and is no
record from the future. A message with any bad part is refused whole, so a half-stored message
never needs explaining. `validate()` is a pure function; the processor only feeds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

import boards
from collector.contracts import QC_NOT_EVALUATED, Batch, Envelope, Reading, Rejected, topic_parts
from collector.dead_letters import HEAD_BYTES
from collector.plugins import Env, Plugin, register
from collector.processors.validate.options import ValidateOptions
from collector.processors.validate.refusals import Invalid, decode

__all__ = ["Invalid", "ValidateProcessor", "oversized", "validate"]

log = logging.getLogger("quantrac.collector.validate")


@dataclass(frozen=True)
class StationFacts:
    kind: str
    params: dict[str, str]


@cache
def station_facts(registry: str) -> dict[str, StationFacts]:
    return {s.id: StationFacts(s.kind, s.params()) for s in boards.registry(registry).stations}


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
    msg = decode(env.payload)
    st = msg.st
    if st not in facts:
        raise Invalid("unknown_station", f"st: {st!r} is not a station of registry {registry!r}")
    if st != station:
        raise Invalid("mismatch", f"st: {st!r} differs from the topic's station {station!r}")
    have = facts[station]
    latest = env.received_at + max_future_s  # timestamp sanity; the schema bounds the past
    out: list[Reading] = []
    kind, params, boot, seq = have.kind, have.params, msg.boot, msg.seq
    for i, rec in enumerate(msg.r):
        t = rec.t
        if t > latest:
            raise Invalid("future", f"r[{i}].t: {t} is {t - env.received_at:.0f} s after the "
                                    f"receive time (limit {max_future_s} s)")
        for param, v in rec.d.items():
            unit = v.unit
            want = params.get(param)
            if want is None:
                raise Invalid("unknown_param",
                              f"r[{i}].d.{param}: station {station} has no sensor for "
                              f"{param!r} (it carries {', '.join(params)})")
            if unit != want:
                raise Invalid("unit", f"r[{i}].d.{param}: unit {unit!r} differs from the "
                                      f"registry's {want!r}")
            out.append(Reading(station, kind, param, unit, t, v.value, v.status,
                               QC_NOT_EVALUATED, v.n, v.flags, v.min, v.max, 0, None,
                               boot, seq))
    return out


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


def build(opts: ValidateOptions, env: Env) -> ValidateProcessor:
    return ValidateProcessor(env.registry, opts.max_future_s)


register(Plugin("processor", "validate", ValidateOptions, build,
                first="it turns messages into readings"))
