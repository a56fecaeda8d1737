"""A protocol-v1 data message as typed structs, decoded from the payload's bytes in one pass.

These structs restate `definitions/data` of docs/protocol-v1.schema.json for msgspec, which
checks types, lengths, ranges and unknown members while it parses, so a good message costs one
C call and no Python per member. tests/collector/test_validate_pin.py runs this
decoder and the schema file on the same good and bad payloads and requires the same answer.

The three patterns (station, boot, parameter name) are not in the structs: msgspec would run
the regex on every string of every message, at about 0.7 µs each, more than half of the whole
decode. `refusals.names_ok` checks them after the pass against the names it has already seen
match, which are nearly always the same few. They end in `\\Z`, not the schema's `$`: Python's
`$` also matches before a final newline, which JSON Schema's (ECMA-262) does not
(fastjsonschema makes the same substitution).

`gc=False`: these structs never form reference cycles, so the garbage collector need not track
the thousands a batch allocates.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

STATION = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}\Z")  # `st`
BOOT = re.compile(r"^[0-9a-f]{8}\Z")  # `boot`
PARAM = re.compile(r"^[a-z0-9_]{1,16}\Z")  # the names in a record's `d`
Epoch = Annotated[int, Meta(ge=1704067200, le=4102444800)]  # nothing before 2024-01-01


class Value(Struct, array_like=True, forbid_unknown_fields=True, gc=False):
    """`[value, unit, status, n, flags]` with optional `[min, max]` after them."""

    value: float | None
    unit: Annotated[str, Meta(min_length=1, max_length=16)]
    status: Annotated[int, Meta(ge=0, le=2)]
    n: Annotated[int, Meta(ge=0, le=100000)]
    flags: Annotated[int, Meta(ge=0, le=65535)]
    min: float | None = None
    max: float | None = None


class Record(Struct, forbid_unknown_fields=True, gc=False):
    t: Epoch
    p: Annotated[int, Meta(ge=1, le=86400)]  # averaging period, seconds
    d: Annotated[dict[str, Value], Meta(min_length=1, max_length=32)]  # names: PARAM


class Data(Struct, forbid_unknown_fields=True, gc=False):
    v: Literal[1]
    st: str  # STATION
    fw: Annotated[str, Meta(min_length=1, max_length=32)]
    boot: str  # BOOT
    seq: Annotated[int, Meta(ge=0, le=4294967295)]
    r: Annotated[list[Record], Meta(min_length=1, max_length=256)]


DECODER = msgspec.json.Decoder(Data)
