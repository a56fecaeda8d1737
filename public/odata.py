"""OData expressions for SensorThings: `$filter` and `$orderby` parsed into a small tree and
evaluated on the entities in memory; a malformed expression is an ODataError naming where."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


class ODataError(ValueError):
    """A query option the service cannot read: a 400."""


class Unsupported(ODataError):
    """A valid query option or function this service does not implement: a 501
    (18-088 /req/request-data/query-status-code)."""


UNSUPPORTED_FUNCTIONS = ("geo.distance", "geo.length", "geo.intersects", "st_equals",
                         "st_disjoint", "st_touches", "st_within", "st_overlaps", "st_crosses",
                         "st_intersects", "st_contains", "st_relate")


TOKEN = re.compile(r"""\s*(?:
  (?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))
 |(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
 |(?P<str>'(?:[^']|'')*')
 |(?P<geo>geo(?:graphy|metry)'(?:[^']|'')*')
 |(?P<name>[A-Za-z_@][\w.@]*(?:/[A-Za-z_@][\w.@]*)*)
 |(?P<op>[(),])
)""", re.X)
COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
ARITH = {"add": 5, "sub": 5, "mul": 6, "div": 6, "mod": 6}
MAX_DEPTH = 50  # nesting a person writes stays far below; deeper is an attack on the stack
PREC = {"or": 1, "and": 2, **{c: 4 for c in COMPARE}, **ARITH}


def tokens(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ODataError(f"cannot read {text[pos:pos + 20]!r} (position {pos})")
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "dt":
            out.append(("lit", datetime.fromisoformat(val.replace("Z", "+00:00"))))
        elif kind == "num":
            out.append(("lit", float(val) if any(c in val for c in ".eE") else int(val)))
        elif kind == "geo":
            out.append(("lit", ("geometry", val)))  # only the geo functions take it (501)
        elif kind == "str":
            out.append(("lit", val[1:-1].replace("''", "'")))
        elif kind == "name" and val in ("true", "false"):
            out.append(("lit", val == "true"))
        elif kind == "name" and val == "null":
            out.append(("lit", None))
        else:
            out.append((kind, val))
        pos = m.end()
    return out


class Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None:
            raise ODataError(f"{self.text!r} ends too early")
        self.i += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok != ("op", op):
            raise ODataError(f"expected {op!r} in {self.text!r}, found {tok[1]!r}")

    def parse(self) -> tuple:
        node = self.expr(0)
        if self.peek() is not None:
            raise ODataError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    def expr(self, min_prec: int) -> tuple:
        left = self.unary()
        while True:
            tok = self.peek()
            if not tok or tok[0] != "name" or tok[1] not in PREC or PREC[tok[1]] < min_prec:
                return left
            self.take()
            right = self.expr(PREC[tok[1]] + 1)
            left = ("bin", tok[1], left, right)

    def unary(self) -> tuple:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise ODataError(f"expression nested deeper than {MAX_DEPTH} levels")
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> tuple:
        tok = self.take()
        if tok == ("name", "not"):
            return ("not", self.expr(3))
        if tok == ("op", "("):
            node = self.expr(0)
            self.expect(")")
            return node
        if tok[0] == "lit":
            return ("lit", tok[1])
        if tok[0] == "name":
            if tok[1] in PREC:
                raise ODataError(f"operator {tok[1]!r} without a left operand in {self.text!r}")
            if self.peek() == ("op", "("):
                self.take()
                args = []
                if self.peek() != ("op", ")"):
                    args.append(self.expr(0))
                    while self.peek() == ("op", ","):
                        self.take()
                        args.append(self.expr(0))
                self.expect(")")
                if tok[1] in UNSUPPORTED_FUNCTIONS:
                    raise Unsupported(f"{tok[1]}(): geospatial functions are not served here "
                                      "(every station is one point: read Locations)")
                if tok[1] not in FUNCTIONS:
                    raise ODataError(f"unknown function {tok[1]!r}")
                return ("call", tok[1], args)
            return ("path", tok[1].split("/"))
        raise ODataError(f"unexpected {tok[1]!r} in {self.text!r}")


def _dt(v: Any) -> datetime:
    if not isinstance(v, datetime):
        raise ODataError(f"{v!r} is not a date and time")
    return v


def _round(v: float) -> float:
    return math.floor(v + 0.5)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "substringof": lambda a, b: a in b, "contains": lambda a, b: b in a,
    "endswith": lambda a, b: a.endswith(b), "startswith": lambda a, b: a.startswith(b),
    "length": len, "indexof": lambda a, b: a.find(b),
    "substring": lambda s, i, n=None: s[i:] if n is None else s[i:i + n],
    "tolower": str.lower, "toupper": str.upper, "trim": str.strip,
    "concat": lambda a, b: f"{a}{b}",
    "year": lambda d: _dt(d).year, "month": lambda d: _dt(d).month,
    "day": lambda d: _dt(d).day, "hour": lambda d: _dt(d).hour,
    "minute": lambda d: _dt(d).minute, "second": lambda d: _dt(d).second,
    "fractionalseconds": lambda d: _dt(d).microsecond / 1e6,
    "date": lambda d: _dt(d).date().isoformat(), "time": lambda d: _dt(d).time().isoformat(),
    "totaloffsetminutes": lambda d: int(_dt(d).utcoffset().total_seconds() // 60),
    "now": lambda: datetime.now(UTC),
    "mindatetime": lambda: datetime(1, 1, 1, tzinfo=UTC),
    "maxdatetime": lambda: datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    "round": _round, "floor": math.floor, "ceiling": math.ceil,
}


def evaluate(node: tuple, resolve: Callable[[list[str]], Any]) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        return resolve(node[1])
    if kind == "not":
        return not evaluate(node[1], resolve)
    if kind == "call":
        args = [evaluate(a, resolve) for a in node[2]]
        if any(a is None for a in args):
            return None
        try:
            return FUNCTIONS[node[1]](*args)
        except (TypeError, AttributeError, ValueError) as e:
            raise ODataError(f"{node[1]}(): {e}") from None
    op, a, b = node[1], node[2], node[3]
    if op == "and":
        return bool(evaluate(a, resolve)) and bool(evaluate(b, resolve))
    if op == "or":
        return bool(evaluate(a, resolve)) or bool(evaluate(b, resolve))
    x, y = evaluate(a, resolve), evaluate(b, resolve)
    if op in ARITH:
        if x is None or y is None:
            return None
        try:
            return {"add": x + y, "sub": x - y, "mul": x * y,
                    "div": x / y if y else None, "mod": x % y if y else None}[op]
        except TypeError:
            raise ODataError(f"cannot {op} {x!r} and {y!r}") from None
    if op == "eq":
        return x == y
    if op == "ne":
        return x != y
    if x is None or y is None:
        return False
    if isinstance(x, datetime) != isinstance(y, datetime):
        raise ODataError(f"cannot compare {x!r} with {y!r}")
    try:
        return {"gt": x > y, "ge": x >= y, "lt": x < y, "le": x <= y}[op]
    except TypeError:
        raise ODataError(f"cannot compare {x!r} with {y!r}") from None


def parse(text: str) -> tuple:
    if not text.strip():
        raise ODataError("empty expression")
    return Parser(text).parse()


def orderby(text: str) -> list[tuple[tuple, bool]]:
    """[(expression, descending)]."""
    out = []
    for part in split_top(text, ","):
        part = part.strip()
        desc = False
        low = part.lower()
        if low.endswith(" desc"):
            part, desc = part[:-5], True
        elif low.endswith(" asc"):
            part = part[:-4]
        out.append((parse(part), desc))
    return out


def split_top(text: str, sep: str) -> list[str]:
    """Split at `sep` outside parentheses and quotes."""
    out, depth, cur, quoted = [], 0, [], False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                raise ODataError(f"unbalanced ')' in {text!r}")
        if ch == sep and depth == 0 and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth or quoted:
        raise ODataError(f"unbalanced parentheses or quotes in {text!r}")
    out.append("".join(cur))
    return out
