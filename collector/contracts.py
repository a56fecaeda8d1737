"""What flows between the collector's plugins, and the three small contracts they implement.

A source emits `Envelope`s (raw MQTT messages with the token that acknowledges them); the
processor chain turns a `Batch` of envelopes into `Reading`s and `Rejected`s; a sink stores
readings and answers each write with a `WriteResult`. Delivery (batching, retry, dead letters,
acks) is the wrappers' job (`running_sink.py`, `pipeline.py`), never a plugin's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

TOPIC_PREFIX = "quantrac/v1/"
TOPIC = re.compile(r"^quantrac/v1/([a-z0-9][a-z0-9-]{1,31})/(data|status|event)$")

# Quality flag values (QARTOD, docs/influxdb-schema.md); only NOT_EVALUATED is set today.
QC_GOOD, QC_NOT_EVALUATED, QC_SUSPECT, QC_FAIL, QC_MISSING = 1, 2, 3, 4, 9


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message as the broker delivered it; `token` is what the source needs to ack it."""

    topic: str
    payload: bytes
    received_at: float
    token: Any = None


@dataclass(slots=True)
class Reading:
    """One parameter of one station over one averaging period, as stored in `reading`."""

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
    once its readings are stored and its rejections written to the dead-letter file."""

    envelopes: list[Envelope]
    readings: list[Reading] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


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
    def process(self, batch: Batch) -> Batch:
        """Pure transformation of a batch; no network I/O."""


@runtime_checkable
class Sink(Protocol):
    def write(self, readings: list[Reading]) -> WriteResult:
        """Try to store `readings` once; never retries or sleeps itself."""

    def close(self) -> None:
        """Release connections."""


def topic_parts(topic: str) -> tuple[str, str] | None:
    """(station, message kind) for a protocol-v1 station topic, else None."""
    m = TOPIC.match(topic)
    return (m.group(1), m.group(2)) if m else None
