"""What flows between the collector's plugins, and the three small contracts they implement.

A source emits `Envelope`s (raw MQTT messages with the token that acknowledges them); the
processor chain turns a `Batch` of envelopes into `Reading`s and `Rejected`s; a sink stores
readings and answers each write with a `WriteResult`. Delivery (batching, retry, dead letters,
acks) is the wrappers' job (`delivery/running_sink.py`, `pipeline.py`), never a plugin's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from quantrac_common.protocol import ANSWER, PREFIX, STATION_WRITES

TOPIC = re.compile(rf"^{re.escape(PREFIX)}/([a-z0-9][a-z0-9-]{{1,31}})/"
                   rf"({'|'.join((*STATION_WRITES, ANSWER))})$")

# Quality flag values (QARTOD, docs/influxdb-schema.md); the qc processor sets them, a chain
# without it leaves NOT_EVALUATED.
QC_GOOD, QC_NOT_EVALUATED, QC_SUSPECT, QC_FAIL, QC_MISSING = 1, 2, 3, 4, 9
HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message as the broker delivered it; `token` is what the source needs to ack it."""

    topic: str
    payload: bytes
    received_at: float
    token: Any = None


@dataclass(slots=True)
class Reading:
    """One parameter of one station over one averaging period, as stored in `reading`.

    `qc_bits` holds one bit per failed QC test; `raw` the value as the station sent it when the
    units stage converted it; `ref` for a mass concentration measured at ambient conditions,
    whose temperature and pressure referred it to 25 °C, 1 atm (`station` or `standard`).
    `boot` and `seq` name the message that carried the reading (for de-duplication); they are
    not stored.
    """

    station: str
    kind: str
    param: str
    unit: str
    time: int
    value: float | None
    status: int
    qc: int = QC_NOT_EVALUATED
    n: int = 0
    flags: int = 0
    min: float | None = None
    max: float | None = None
    qc_bits: int = 0
    raw: float | None = None
    boot: str = ""
    seq: int = -1
    ref: str = ""  # particulates: how the value was referred to 25 °C, 1 atm (processors/units)


def hour_of(t: int) -> int:
    """Start of the hour a record belongs to. Record times mark the END of their averaging
    period, so a record stamped 10:00:00 belongs to 09:00-10:00."""
    return (int(t) - 1) // HOUR_S * HOUR_S


def touched_hours(readings: list[Reading]) -> set[tuple[str, str, int]]:
    """(station, param, hour start) of every hourly bucket these readings fall in: what an
    aggregate stage recomputes when late or backfilled records arrive."""
    return {(r.station, r.param, hour_of(r.time)) for r in readings}


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a setattr call per field, and
class Point:            # the chain builds several points per message
    """A derived measurement for the database: an aggregate, an index, an alert, a self-metric
    (docs/influxdb-schema.md). `note` rides along for sinks other than the database (an alert's
    protocol payload) and is never stored."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, float | int | bool | str]
    time: int
    note: dict | None = None

    @property
    def station(self) -> str:
        return self.tags.get("station", "")


RETRACT = "retract"


def retraction(measurement: str, tags: dict[str, str], time: int) -> Point:
    """A point that removes what is stored at this series and time: InfluxDB merges the fields
    of a point written again, so a recomputed mean or index that lost its value (an operator
    flagged its data invalid) would keep the old one. The database sink deletes the point
    first; what the batch writes after it at the same series and time is then all there is."""
    return Point(measurement, dict(tags), {}, int(time), {RETRACT: True})


def is_retraction(p: Point) -> bool:
    return bool(p.note) and p.note.get(RETRACT) is True  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A whole message refused, with a reason naming what is wrong and a short reason class
    (`json`, `schema`, `unit`, …) that metrics count by."""

    envelope: Envelope
    reason: str
    cls: str = "invalid"


@dataclass
class Batch:
    """The unit the processor chain works on. Every envelope in it is acknowledged together,
    once its readings are durable in the spool and its rejections in the dead-letter file.

    `duplicates`: (station, boot, seq) of messages the dedupe stage recognised as already
    stored; they are acknowledged and counted, not stored again.
    """

    envelopes: list[Envelope]
    readings: list[Reading] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: list[tuple[str, str, int]] = field(default_factory=list)
    # derived measurements (aggregate, indices, alerts stages); stored with the readings
    points: list[Point] = field(default_factory=list)

    @property
    def touched(self) -> set[tuple[str, str, int]]:
        """(station, param, hour start) buckets this batch's readings fall in."""
        return touched_hours(self.readings)


@dataclass
class WriteResult:
    """A sink's answer for one `write(readings)` call, by index into `readings`.

    `accepted`: stored. `rejected`: refused for good (they go to dead letters, no retry).
    Every index in neither list is kept: when `retry_after` is set, write those again after at
    least that many seconds. `error` explains a retry; `operator` marks errors no retry fixes
    by itself (credentials, permissions), which are logged as errors but still keep the data.
    """

    accepted: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    retry_after: float | None = None
    error: str = ""
    operator: bool = False

    @classmethod
    def ok(cls, n: int) -> WriteResult:
        return cls(accepted=list(range(n)))


@dataclass(frozen=True)
class Outcome:
    """The answer for one item delivered whole (an outbox item): delivered, refused for good
    (`refused` says why; dead-lettered, not retried), or kept (`error`; again after
    `retry_after` or the back-off; `operator`: only a person fixes it, e.g. credentials).
    The same three answers as a WriteResult's, for an item instead of indices."""

    delivered: bool = False
    refused: str = ""
    error: str = ""
    retry_after: float | None = None
    operator: bool = False

    @classmethod
    def ok(cls) -> Outcome:
        return cls(delivered=True)

    @classmethod
    def refuse(cls, reason: str) -> Outcome:
        return cls(refused=reason)

    @classmethod
    def retry(cls, error: str, after: float | None = None, operator: bool = False) -> Outcome:
        return cls(error=error, retry_after=after, operator=operator)

    @classmethod
    def of(cls, result: WriteResult, n: int, kept: str) -> Outcome:
        """A sink's answer for the `n` readings or points of one item: delivered when it
        stored them all, refused when it settled them all and refused some, else kept
        (`kept` when the sink said nothing)."""
        if len(set(result.accepted)) >= n:
            return cls.ok()
        if result.rejected and len(result.accepted) + len(result.rejected) >= n:
            return cls.refuse("; ".join(reason for _, reason in result.rejected))
        return cls.retry(result.error or kept, result.retry_after, result.operator)


Emit = Callable[[Envelope], None]


@runtime_checkable
class Source(Protocol):
    def start(self, emit: Emit) -> None:
        """Begin delivering envelopes to `emit` (from the source's own thread)."""

    def ack(self, token: Any) -> None:
        """The message is stored or dead-lettered: the broker may forget it."""

    def stop(self) -> None:
        """Stop delivering; unacknowledged messages stay with the broker."""


@runtime_checkable
class Processor(Protocol):
    """One stage of the chain; stages run in the configured order in the worker thread.

    Optional methods, looked up by name:
    - `state() -> dict` and `restore(d: dict)`: JSON-able state the pipeline saves in
      `<data_dir>/state.json` (only ever state whose batches are already in the spool) and
      hands back at the next start;
    - `commit(batch)`: the batch's readings are durable in the spool. A stage that must not
      remember a batch the pipeline could still abandon (dedupe) records it here;
    - `tick(now, stats) -> list[Point]`: called about once a second between batches, for what
      only time shows (a station gone silent); the points are spooled like a batch's;
    - `close()`: the collector is stopping (after the last `state()`); release what it holds.
    A stage is built by its plugin record (collector/plugins.py), `name` being its name.
    """

    def process(self, batch: Batch) -> Batch:
        """Transform a batch; no network I/O."""


@runtime_checkable
class Sink(Protocol):
    def write(self, readings: list[Reading]) -> WriteResult:
        """Try to store `readings` once; never retries or sleeps itself."""

    def close(self) -> None:
        """Release connections."""


def topic_parts(topic: str) -> tuple[str, str] | None:
    """(station, message kind) for a protocol-v1 station topic (its station's messages, or
    the operator's `answer` to its alerts), else None."""
    m = TOPIC.match(topic)
    return (m.group(1), m.group(2)) if m else None
