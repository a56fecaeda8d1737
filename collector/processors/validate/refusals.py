"""Payload bytes → `wire.Data`, or `Invalid` naming the class and the place of what is wrong.

A good message takes one msgspec call, and a look-up of its names (station, boot, parameters)
among those already seen to match their patterns. Only when msgspec refuses does the slower
second look run, on the refused payload alone: Python's json reads it again, to tell bad UTF-8
and bad JSON apart in Python's own words, to find NaN/Infinity and numbers beyond a float by
their place, to name the dict key or array that msgspec's path leaves out, and to quote the
offending value. It also accepts what JSON Schema calls an integer but msgspec does not: a
float with no fraction (`"seq": 42.0`), so the decoder refuses exactly what the schema refuses.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from collector.processors.validate.wire import BOOT, DECODER, PARAM, STATION, Data, Value

_AT = re.compile(r"^(?P<msg>.*?)(?: - at (?:`key` in )?`\$(?P<path>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_GOT = re.compile(r", got [^,]*$")
_MISSING = object()


class Invalid(ValueError):
    """Why a message is refused: `cls` is the short reason class metrics count by."""

    def __init__(self, cls: str, reason: str) -> None:
        super().__init__(reason)
        self.cls = cls
        self.reason = reason


class NonFinite:
    """Stands in for NaN, Infinity or a number too large for a float. No struct field accepts
    it, so the second look finds it by the path msgspec refuses it at."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def decode(payload: bytes) -> Data:
    """One data message's structs, or `Invalid` (encoding, json, nonfinite or schema)."""
    try:
        data = DECODER.decode(payload)
    except (msgspec.MsgspecError, RecursionError) as e:
        data = second_look(payload, e)
    return names_ok(data)


# Names that matched their pattern before. Capped: a station may send a new boot id at each
# restart, and a flood of made-up valid names must not grow memory without bound.
_SEEN: dict[re.Pattern[str], set[str]] = {STATION: set(), BOOT: set(), PARAM: set()}
_SEEN_MAX = 4096


def _matches(pattern: re.Pattern[str], name: str) -> bool:
    if pattern.search(name) is None:
        return False
    seen = _SEEN[pattern]
    if len(seen) >= _SEEN_MAX:
        seen.clear()
    seen.add(name)
    return True


def names_ok(data: Data) -> Data:
    """`data`, once its station, boot and parameter names match the schema's patterns."""
    if data.st not in _SEEN[STATION] and not _matches(STATION, data.st):
        raise _pattern_refusal("st", STATION, data.st)
    if data.boot not in _SEEN[BOOT] and not _matches(BOOT, data.boot):
        raise _pattern_refusal("boot", BOOT, data.boot)
    params = _SEEN[PARAM]
    for i, rec in enumerate(data.r):
        if not params.issuperset(rec.d):
            bad = [k for k in rec.d if k not in params and not _matches(PARAM, k)]
            if bad:
                raise Invalid("schema", f"r[{i}].d: parameter name {', '.join(map(repr, bad))} "
                                        "is not [a-z0-9_]{1,16}")
    return data


def _pattern_refusal(where: str, pattern: re.Pattern[str], name: str) -> Invalid:
    shown = repr(pattern.pattern.replace("\\Z", "$"))
    return Invalid("schema", f"{where}: expected str matching regex {shown}, got {_show(name)}")


def second_look(payload: bytes, first: Exception) -> Data:
    """The refusal msgspec's `first` error stands for, named as a reader would want it; or the
    message itself when its only fault was integral floats where the schema wants integers."""
    doc = parse(payload)
    where = _lone_surrogate(doc)
    if where is not None:
        # Python's json reads a \ud800-style escape without its pair, msgspec does not: it is
        # no Unicode text and could be neither stored nor written back as UTF-8
        raise Invalid("encoding", f"payload is not Unicode text: {where} holds half of a "
                                  "UTF-16 surrogate pair")
    try:
        data = msgspec.convert(doc, Data)
    except msgspec.ValidationError as e:
        raise _schema_refusal(doc, str(e)) from None
    if isinstance(first, msgspec.ValidationError):
        return data
    raise Invalid("json", f"payload is not JSON: {first}")


class Integral(int):
    """A JSON number written with a fraction or exponent but none in its value (`42.0`,
    `1.7e9`): JSON Schema counts it an integer, so the structs get it as one. It prints as
    the station wrote it, so a reason quotes the payload faithfully."""

    def __new__(cls, value: int, text: str) -> Integral:
        self = super().__new__(cls, value)
        self.text = text
        return self

    def __repr__(self) -> str:
        return self.text


def _float(text: str) -> float | Integral | NonFinite:
    x = float(text)
    if x != x or x in (float("inf"), float("-inf")):
        return NonFinite(text[:24])
    return Integral(int(x), text) if x.is_integer() else x


def parse(payload: bytes) -> Any:
    """UTF-8 JSON → Python; NaN, Infinity and overflowing floats become `NonFinite`."""
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


def _schema_refusal(doc: Any, error: str) -> Invalid:
    m = _AT.match(error)
    assert m is not None  # every string matches: the place is optional
    msg, steps = m["msg"], _steps(m["path"] or "")
    if "..." in steps or msg.startswith("Expected `array` of at most"):
        # msgspec's path says `d[...]` for a dict value, and names no place at all for an
        # array longer than a struct: find the first value array that fails on its own
        found = _first_bad_value(doc)
        if found is not None:
            steps, msg = found
    where = _where(steps)
    value = _at(doc, steps)
    if isinstance(value, NonFinite):
        return Invalid("nonfinite", f"{where}: {value.text} is not a finite number (JSON has "
                                    "no NaN or Infinity)")
    if msg.startswith("Number out of range"):
        return Invalid("nonfinite", f"{where}: {_show(value)} is too large for a number")
    for prefix, say in (("Object missing required field", "missing"),
                        ("Object contains unknown field", "unknown member")):
        if msg.startswith(prefix):
            name = msg.removeprefix(prefix).strip().strip("`")
            return Invalid("schema", f"{where}: {say} {name!r}")
    if steps == ["v"]:
        return Invalid("schema", f"v: must be 1 (protocol v1), got {_show(value)}")
    text = msg.replace("`", "")
    text = text[:1].lower() + text[1:]
    if value is not _MISSING:
        text = f"{_GOT.sub('', text)}, got {_show(value)}"
    return Invalid("schema", f"{where}: {text}")


def _steps(path: str) -> list[str | int]:
    return [name or (int(i) if i.isdigit() else i) for name, i in _STEP.findall(path)]


def _where(steps: list[str | int]) -> str:
    """['r', 0, 'd', 'so2', 2] → 'r[0].d.so2[2]'; the root is 'payload'."""
    out = ""
    for s in steps:
        out += f"[{s}]" if isinstance(s, int) else (f".{s}" if out else str(s))
    return out or "payload"


def _at(doc: Any, steps: list[str | int]) -> Any:
    node = doc
    for s in steps:
        try:
            node = node[s]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def _lone_surrogate(doc: Any) -> str | None:
    """Where the first string (or member name) with an unpaired surrogate is, if any."""
    stack: list[tuple[list[str | int], Any]] = [([], doc)]
    while stack:  # not recursive: the document may nest up to the recursion limit
        steps, node = stack.pop()
        if isinstance(node, dict):
            for k, v in reversed(node.items()):
                stack += [([*steps, k], v), ([*steps, k], k)]
        elif isinstance(node, list):
            stack += [([*steps, i], v) for i, v in reversed(list(enumerate(node)))]
        elif isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return _where(steps)
    return None


def _first_bad_value(doc: Any) -> tuple[list[str | int], str] | None:
    records = doc.get("r") if isinstance(doc, dict) else None
    for i, rec in enumerate(records if isinstance(records, list) else []):
        d = rec.get("d") if isinstance(rec, dict) else None
        for key, arr in (d.items() if isinstance(d, dict) else ()):
            try:
                msgspec.convert(arr, Value)
            except msgspec.ValidationError as e:
                m = _AT.match(str(e))
                assert m is not None
                return ["r", i, "d", key, *_steps(m["path"] or "")], m["msg"]
    return None


def _show(value: Any) -> str:
    try:
        shown = repr(value)
    except ValueError:  # an int too long to print; parse() refuses those, but be sure
        shown = "a number too long to print"
    return shown if len(shown) <= 40 else shown[:37] + "..."
