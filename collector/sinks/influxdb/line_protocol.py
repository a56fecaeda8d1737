"""Readings → InfluxDB line protocol for the `reading` measurement (docs/influxdb-schema.md).

Built by hand rather than through influxdb_client.Point: one f-string per reading is several
times faster, and the schema is fixed. Tags are written sorted by key, as the server prefers.
"""

from __future__ import annotations

import math

from collector.contracts import Reading

MEASUREMENT = "reading"
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})


def escape_tag(value: str, key: str) -> str:
    """A tag value with `,` `=` and space escaped. Values the server cannot round-trip (empty,
    a line break, a backslash that could swallow the separator) are refused by name."""
    if not value:
        raise ValueError(f"tag {key} is empty")
    if "\n" in value or "\r" in value or "\\" in value:
        raise ValueError(f"tag {key}={value!r} holds a line break or backslash")
    return value.translate(_TAG_ESCAPES)


def float_field(x: float, key: str) -> str:
    if not math.isfinite(x):
        raise ValueError(f"field {key}={x!r} is not finite")
    return repr(float(x))


def line(r: Reading) -> str:
    """One line; ValueError (naming the tag or field) when the reading cannot be written."""
    fields = []
    if r.value is not None:
        fields.append(f"value={float_field(r.value, 'value')}")
    fields.append(f"status={int(r.status)}i,qc={int(r.qc)}i,n={int(r.n)}i,flags={int(r.flags)}i")
    if r.min is not None:
        fields.append(f"min={float_field(r.min, 'min')}")
    if r.max is not None:
        fields.append(f"max={float_field(r.max, 'max')}")
    tags = (f"kind={escape_tag(r.kind, 'kind')},param={escape_tag(r.param, 'param')},"
            f"station={escape_tag(r.station, 'station')},unit={escape_tag(r.unit, 'unit')}")
    return f"{MEASUREMENT},{tags} {','.join(fields)} {int(r.time)}"
