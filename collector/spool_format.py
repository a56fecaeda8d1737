"""What the spool's records hold: readings and points as compact JSON.

A reading is the list of its FIELDS, a point {"p": [measurement, tags, fields, time, note]}
(JSON keeps 1 and 1.0 apart, so an integer field stays an integer). The framing around it
(length, count, CRC) is the log's (collector/log/format.py). msgspec writes and reads it: the
same JSON as the standard library's, several times faster (the worker encodes every batch).
"""

from __future__ import annotations

import json
import operator

import msgspec

from collector.contracts import Point, Reading

__all__ = ["FIELDS", "SUFFIX", "Item", "decode", "encode"]

SUFFIX = ".seg"
FIELDS = ("station", "kind", "param", "unit", "time", "value", "status", "qc", "qc_bits", "n",
          "flags", "min", "max", "raw", "ref")
# Rows spooled before `ref` existed have one field less; they still read (ref "").
_OLD_LEN = len(FIELDS) - 1

Item = Reading | Point
_ROW = operator.attrgetter(*FIELDS)  # a tuple, written as the same JSON list
_ENCODER = msgspec.json.Encoder()


def encode(items: list[Item]) -> bytes:
    return _ENCODER.encode([_ROW(r) if isinstance(r, Reading) else
                            {"p": [r.measurement, r.tags, r.fields, r.time, r.note]}
                            for r in items])


def _reading(row: list) -> Reading:
    if len(row) == _OLD_LEN:
        row = [*row, ""]
    if len(row) != len(FIELDS):
        raise ValueError(f"a spooled reading has {len(row)} fields, not {len(FIELDS)}")
    (station, kind, param, unit, time, value, status, qc, qc_bits, n, flags, lo, hi,
     raw, ref) = row
    return Reading(station, kind, param, unit, time, value, status, qc, n, flags, lo, hi,
                   qc_bits, raw, ref=ref)


def decode(payload: bytes) -> list[Item]:
    try:
        rows = msgspec.json.decode(payload)
    except msgspec.DecodeError:
        # a record written by the standard library before msgspec may hold NaN or Infinity,
        # which it wrote and strict JSON parsers refuse
        rows = json.loads(payload)
    return [_reading(row) if isinstance(row, list) else Point(*row["p"]) for row in rows]
