"""Readings → InfluxDB line protocol for the `reading` measurement, and derived `Point`s
(`mean`, `aqi`, `wqi`, `alert`, `collector`) for theirs (docs/influxdb-schema.md).

Built by hand rather than through influxdb_client.Point: one f-string per reading is several
times faster, and the schema is fixed. Tags are written sorted by key, as the server prefers.
"""

from __future__ import annotations

import math

from collector.contracts import Point, Reading
from quantrac_common.influxql import quote_ident, quote_string

MEASUREMENT = "reading"
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
# Escaped tag sets already built: a network has a few hundred (station, param) series, and
# escaping them again for every reading was most of the line's cost. Only valid sets are kept.
_TAG_CACHE: dict[tuple, str] = {}
_TAG_CACHE_MAX = 50_000


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


def _key(name: str, what: str) -> str:
    if not name or "\n" in name or "\\" in name or '"' in name:
        raise ValueError(f"{what} {name!r} is empty or holds a line break, backslash or quote")
    return name.translate(_TAG_ESCAPES)


def _field(key: str, x: float | int | bool | str) -> str:
    if isinstance(x, bool):
        return f"{_key(key, 'field')}={'true' if x else 'false'}"
    if isinstance(x, int):
        return f"{_key(key, 'field')}={x}i"
    if isinstance(x, float):
        return f"{_key(key, 'field')}={float_field(x, key)}"
    if isinstance(x, str):
        text = x.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ")
        return f'{_key(key, "field")}="{text}"'
    raise ValueError(f"field {key}={x!r} is not a number, bool or text")


def _remember(key: tuple, text: str) -> str:
    if len(_TAG_CACHE) >= _TAG_CACHE_MAX:
        _TAG_CACHE.clear()
    _TAG_CACHE[key] = text
    return text


def _point_tags(tags: dict[str, str]) -> str:
    key = tuple(tags.items())
    text = _TAG_CACHE.get(key)
    if text is None:
        text = _remember(key, "".join(f",{_key(k, 'tag')}={escape_tag(v, k)}"
                                      for k, v in sorted(tags.items())))
    return text


def _reading_tags(r: Reading) -> str:
    key = (r.kind, r.param, r.station, r.unit)
    text = _TAG_CACHE.get(key)
    if text is None:
        text = _remember(key, f"kind={escape_tag(r.kind, 'kind')},"
                              f"param={escape_tag(r.param, 'param')},"
                              f"station={escape_tag(r.station, 'station')},"
                              f"unit={escape_tag(r.unit, 'unit')}")
    return text


def point_line(p: Point) -> str:
    """One line for a derived point; ValueError naming the tag or field it cannot write.
    Field types are the caller's: a field written as a float once must stay a float."""
    if not p.fields:
        raise ValueError(f"{p.measurement}: no fields")
    tags = _point_tags(p.tags)
    fields = ",".join(_field(k, v) for k, v in p.fields.items())
    return f"{_key(p.measurement, 'measurement')}{tags} {fields} {int(p.time)}"


def line(r: Reading | Point) -> str:
    """One line; ValueError (naming the tag or field) when the reading cannot be written."""
    if isinstance(r, Point):
        return point_line(r)
    fields = []
    if r.value is not None:
        fields.append(f"value={float_field(r.value, 'value')}")
    fields.append(f"status={int(r.status)}i,qc={int(r.qc)}i,qc_bits={int(r.qc_bits)}i,"
                  f"n={int(r.n)}i,flags={int(r.flags)}i")
    if r.min is not None:
        fields.append(f"min={float_field(r.min, 'min')}")
    if r.max is not None:
        fields.append(f"max={float_field(r.max, 'max')}")
    if r.raw is not None:
        fields.append(f"raw={float_field(r.raw, 'raw')}")
    if r.ref:  # a field, not a tag: the series stays one whichever conditions referred it
        fields.append(_field("ref", r.ref))
    return f"{MEASUREMENT},{_reading_tags(r)} {','.join(fields)} {int(r.time)}"


def delete_statement(p: Point) -> str:
    """InfluxQL removing the point at `p`'s series and time (a retraction)."""
    where = "".join(f"{quote_ident(k)} = {quote_string(v)} AND "
                    for k, v in sorted(p.tags.items()))
    return f"DELETE FROM {quote_ident(p.measurement)} WHERE {where}time = {int(p.time)}s"
