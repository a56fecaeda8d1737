"""The msgspec decoder (collector/processors/validate/wire.py) is pinned to the schema file.

Thousands of good and bad payloads go through both the reference, docs/protocol-v1.schema.json
compiled by fastjsonschema, and the decoder the collector runs (`refusals.decode`); they must
agree on accepting or refusing every one, and on every value of what they accept. The bad ones
are generated from the schema itself (each member removed, each member of every JSON type, each
bound and one past it, each length and one past it, patterns with a trailing newline, an upper
case or a non-ASCII letter, an unknown member) plus NaN, Infinity, huge and tiny numbers,
integral floats, unicode, broken UTF-8 and cut-off text. Edit a bound in the schema and this
fails until wire.py says the same.

The reference reads the text as I-JSON (RFC 7493) before the schema sees it: NaN and Infinity
are not JSON, and numbers beyond a double and strings with a lone surrogate (`"\\ud800"`) are
refused. Python's json would let those through to the schema; the collector never did for the
numbers (class nonfinite) and now refuses lone surrogates too (class encoding).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import fastjsonschema
import msgspec

from collector.processors.validate.refusals import Invalid, decode

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "protocol-v1.schema.json")
                    .read_text(encoding="utf-8"))
REFERENCE = fastjsonschema.compile(SCHEMA)
CASES = Path(__file__).parent / "cases" / "validate"
DECODER_CLASSES = {"encoding", "json", "nonfinite", "schema"}

GOOD = {"v": 1, "st": "pq-air-01", "fw": "0.1.0", "boot": "9f2c4a1e", "seq": 42,
        "r": [{"t": 1763755200, "p": 300, "d": {"so2": [12.5, "ppb", 0, 30, 0],
                                                "pm10": [35.1, "ug/m3", 0, 28, 2, 30.2, 41.0],
                                                "co": [None, "ppm", 2, 0, 4, None, -1]}}]}
# JSON text that no Python value serialises to: put in place of a "@@RAWn@@" string
RAW = ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1" + "0" * 400, "-" + "9" * 330,
       "1e-400", "5e-324", "1.7976931348623157e308", "0.1e1", "4294967295.0", "1E3", "-0",
       '"\\ud800"', '"x\\udc00"', '"\\ud83d\\ude00"', '"\\u0000"', '"caf\\u00e9"']
# values of every JSON type, put in place of every member in turn
ANY = [None, True, False, 0, 1, 2, -1, 1.5, 1.0, -0.0, 2 ** 32, 2 ** 64, -(2 ** 63) - 1, 1e308,
       "", "x", "1", "é", "😀", "Trạm quan trắc", [], {}, [1], {"a": 1}]


def reference_accepts(payload: bytes) -> Any:
    """The parsed message if the schema file accepts `payload` read as I-JSON, else None."""
    try:
        doc = json.loads(payload.decode("utf-8"), parse_constant=_not_json,
                         parse_float=_double, parse_int=_integer)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if _has_lone_surrogate(doc):
        return None
    try:
        REFERENCE(doc)
    except fastjsonschema.JsonSchemaValueException:
        return None
    return doc


def _not_json(text: str) -> None:
    raise ValueError(f"{text} is not JSON")


def _double(text: str) -> float:
    x = float(text)
    if not math.isfinite(x):
        raise ValueError(f"{text} is beyond a double")
    return x


def _integer(text: str) -> int:
    n = int(text)
    try:
        float(n)
    except OverflowError:
        raise ValueError(f"{text[:20]}… is beyond a double") from None
    return n


def _has_lone_surrogate(doc: Any) -> bool:
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def decoded(payload: bytes) -> msgspec.Struct | None:
    """What the collector's decoder makes of `payload`: its structs, or None when refused."""
    try:
        return decode(payload)
    except Invalid as e:
        assert e.cls in DECODER_CLASSES, (payload[:200], e.cls, e.reason)
        assert e.reason, payload[:200]
        return None


def readings_of(doc: dict) -> list[tuple]:
    """(t, p, param, value, unit, status, n, flags, min, max) of every value array; numbers as
    the double they are stored as (an integer written where a number goes included)."""
    out = []
    for rec in doc["r"]:
        for param, arr in rec["d"].items():
            value, unit, status, n, flags, lo, hi = [*arr, None, None][:7]
            lo, hi, value = (None if x is None else float(x) for x in (lo, hi, value))
            out.append((rec["t"], rec["p"], param, value, unit, status, n, flags, lo, hi))
    return out


def dumps(doc: Any) -> bytes:
    text = json.dumps(doc, ensure_ascii=False)
    for i, raw in enumerate(RAW):
        text = text.replace(f'"@@RAW{i}@@"', raw)
    return text.encode("utf-8")


def resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def members(schema: dict, doc: Any, path: tuple = ()):
    """(path, subschema, value) of the message and of every member and item in it."""
    s = resolve(schema)
    yield path, s, doc
    if isinstance(doc, dict):
        extra = s.get("additionalProperties")
        for k, v in doc.items():
            sub = s.get("properties", {}).get(k) or (extra if isinstance(extra, dict) else None)
            if sub is not None:
                yield from members(sub, v, (*path, k))
    elif isinstance(doc, list):
        items = s.get("items")
        for i, v in enumerate(doc):
            sub = (items[i] if i < len(items) else None) if isinstance(items, list) else items
            if sub is not None:
                yield from members(sub, v, (*path, i))


def replaced(doc: Any, path: tuple, value: Any) -> Any:
    out = copy.deepcopy(doc)
    if not path:
        return value
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def removed(doc: Any, path: tuple) -> Any:
    out = copy.deepcopy(doc)
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def edges(s: dict, value: Any) -> list[Any]:
    """Values at and just past each bound the schema sets here, of each kind it names."""
    out: list[Any] = []
    for key, step in (("minimum", -1), ("maximum", 1)):
        if key in s:
            b = s[key]
            out += [b, b + step, b - step, b + 0.5 * step, b - 0.5 * step, float(b),
                    float(b + step)]
    for c in [*s.get("enum", []), *([s["const"]] if "const" in s else [])]:
        out += [c, float(c), c + 1, -1, True]
    for key, step in (("minLength", -1), ("maxLength", 1)):
        if key in s:
            for n in {s[key], max(0, s[key] + step)}:
                out += ["a" * n, "😀" * n, "ệ" * n]
    if "pattern" in s and isinstance(value, str):
        out += [value + "\n", "\n" + value, value.upper(), value + " ", value[:-1] + "é",
                value[:-1] + "٣", value * 2, value[:1]]
    if isinstance(value, list):
        for key, step in (("minItems", -1), ("maxItems", 1)):
            if key in s:
                for n in {s[key], max(0, s[key] + step)}:
                    if isinstance(s.get("items"), list):  # a value array: a good one cut or grown
                        out.append(([12.5, "ppb", 0, 30, 0, 11.0, 14.0] + [1] * 9)[:n])
                    else:
                        out.append([copy.deepcopy(value[0]) for _ in range(n)] if value else [])
    if isinstance(value, dict) and value:
        first = copy.deepcopy(next(iter(value.values())))
        for key, step in (("minProperties", -1), ("maxProperties", 1)):
            if key in s:
                for n in {s[key], max(0, s[key] + step)}:
                    out.append({f"p{i}": copy.deepcopy(first) for i in range(n)})
        if "propertyNames" in s:
            for name in ("", "A", "a" * 16, "a" * 17, "a-b", "é", "so2\n", "٣", "so_2"):
                out.append({**copy.deepcopy(value), name: copy.deepcopy(first)})
        if s.get("additionalProperties") is False:
            out += [{**copy.deepcopy(value), k: 1} for k in ("x", "", "V", "é")]
    return out


def payloads() -> list[bytes]:
    out = [(d / "message").read_bytes() for d in sorted(CASES.iterdir()) if d.is_dir()]
    bases = [GOOD, replaced(GOOD, ("r",), [copy.deepcopy(GOOD["r"][0]) for _ in range(3)])]
    for base in bases:
        out.append(dumps(base))
        for path, s, value in list(members(SCHEMA, base)):
            if path:
                out.append(dumps(removed(base, path)))
            for v in ANY + [f"@@RAW{i}@@" for i in range(len(RAW))] + edges(s, value):
                out.append(dumps(replaced(base, path, v)))
    good = dumps(GOOD)
    out += [good[:i] for i in range(0, len(good), 5)]  # cut off anywhere
    out += [b"\xef\xbb\xbf" + good, b" \n\t" + good + b"\r\n", good + b"{}", b"", b"null",
            good.replace(b'"seq": 42', b'"seq": 42, "seq": -1'),  # duplicate: the last wins
            good.replace(b'"seq": 42', b'"seq": -1, "seq": 42'),
            good.replace(b'"so2": [12.5', b'"so2": [13, "ppb", 0, 1, 0], "so2": [12.5'),
            good.replace(b"0.1.0", b"0.1.\xff"), good.replace(b"0.1.0", b"0.1.\xed\xa0\x80"),
            good.replace(b"0.1.0", "0.1.\u2028".encode()), b"[" * 3000 + b"]" * 3000]
    big = replaced(GOOD, ("r",), [{"t": 1763755200 - 60 * i, "p": 60,
                                   "d": {f"p{j}": [j, "ppb", 0, 1, 0, None, j]
                                         for j in range(32)}} for i in range(256)])
    out += [dumps(big), dumps(replaced(big, ("r",), big["r"] + big["r"][:1]))]
    return out


def test_the_decoder_and_the_schema_file_agree_on_every_payload():
    cases = payloads()
    disagree, accepted = [], 0
    for payload in cases:
        want = reference_accepts(payload)
        got = decoded(payload)
        if (want is None) != (got is None):
            disagree.append(f"schema {'accepts' if want is not None else 'refuses'}, decoder "
                            f"{'accepts' if got is not None else 'refuses'}: {payload[:300]!r}")
        elif want is not None:
            accepted += 1
            mine = readings_of(msgspec.to_builtins(got))
            if mine != readings_of(want) or [got.v, got.st, got.fw, got.boot, got.seq] != [
                    want["v"], want["st"], want["fw"], want["boot"], want["seq"]]:
                disagree.append(f"different values: {payload[:300]!r}")
    assert not disagree, f"{len(disagree)} of {len(cases)} payloads:\n" + "\n".join(disagree[:30])
    # the generator must stay broad: a change that empties it would pass the loop above
    assert len(cases) > 2000 and 50 < accepted < len(cases) - 1500, (len(cases), accepted)


def test_values_come_out_typed_as_the_schema_types_them():
    """What JSON Schema calls an integer is an int even when written 42.0; numbers are floats."""
    doc = replaced(replaced(GOOD, ("seq",), "@@RAW11@@"), ("r", 0, "t"), 1763755200.0)
    doc = replaced(doc, ("r", 0, "d", "so2"), [3, "ppb", "@@RAW10@@", 3e1, 0.0, -0, 12])
    data = decode(dumps(doc))
    v = data.r[0].d["so2"]
    assert (data.seq, data.r[0].t, v.status, v.n, v.flags) == (4294967295, 1763755200, 1, 30, 0)
    assert all(type(x) is int for x in (data.seq, data.r[0].t, v.status, v.n, v.flags))
    assert all(type(x) is float for x in (v.value, v.min, v.max))


def test_a_pattern_checked_with_a_python_dollar_would_let_a_trailing_newline_through():
    """Python's `$` matches before a final newline; JSON Schema's does not. Shown here so the
    agreement test's newline variants are known to bite."""
    good = dumps(GOOD)
    for field in (b'"9f2c4a1e"', b'"pq-air-01"'):
        bad = good.replace(field, field[:-1] + b'\\n"')
        assert reference_accepts(bad) is None and decoded(bad) is None
