"""Run every query of a dashboard against InfluxDB the way Grafana would: template variables
resolved from their own queries, then substituted with Grafana's InfluxQL rules, `$timeFilter`
and `$__interval` from the dashboard's time range. `quantrac grafana check` and the tests use
it to show that every panel of every dashboard finds data.

Substitution, as Grafana's InfluxDB data source does it (InfluxQL mode):
- a multi-value or include-all variable becomes `(a|b|c)` with each value regex-escaped (All
  without a custom all value is every value), a single value is inserted as it is;
- `$timeFilter` becomes `time >= now() - 24h and time <= now()` for a relative range;
- `$__interval` is the range over the panel's data points rounded to a round interval, never
  below the data source's minimum interval (the stations' report period).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from quantrac_common import influxql

MAX_DATA_POINTS = 1000  # about the width of a panel on one screen, in pixels
ROUND_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800,
           21600, 43200, 86400, 604800)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
REGEX_SPECIAL = re.compile(r"([\\^$*+?.()|{}\[\]/])")


class CheckError(ValueError):
    """A dashboard cannot be checked (a variable without values, a time range we cannot read)."""


def seconds(span: str) -> int:
    m = re.fullmatch(r"(\d+)([smhdw])", span)
    if not m:
        raise CheckError(f"{span!r} is not a duration like 30s, 5m, 24h, 7d")
    return int(m.group(1)) * UNITS[m.group(2)]


def duration(s: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if s % UNITS[unit] == 0:
            return f"{s // UNITS[unit]}{unit}"
    return f"{s}s"


def time_filter(time_from: str, time_to: str = "now") -> str:
    def influx(t: str) -> str:
        if t == "now":
            return "now()"
        m = re.fullmatch(r"now([-+])(\d+[smhdw])", t)
        if not m:
            raise CheckError(f"time {t!r}: only now and now±<duration> are supported")
        return f"now() {m.group(1)} {m.group(2)}"
    return f"time >= {influx(time_from)} and time <= {influx(time_to)}"


def interval(time_from: str, min_interval_s: int, panel_interval: str | None = None) -> str:
    span = seconds(time_from.removeprefix("now-")) if time_from != "now" else 0
    raw = span / MAX_DATA_POINTS
    rounded = next((r for r in ROUND_S if r >= raw), ROUND_S[-1])
    floor = max(min_interval_s, seconds(panel_interval) if panel_interval else 0)
    return duration(max(rounded, floor))


def format_value(values: list[str], multi: bool) -> str:
    if not multi:
        return values[0] if values else ""
    escaped = [REGEX_SPECIAL.sub(r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def interpolate(query: str, variables: dict[str, tuple[list[str], bool]], time_from: str,
                time_to: str = "now", interval_: str = "5m") -> str:
    out = query.replace("$timeFilter", time_filter(time_from, time_to))
    out = out.replace("$__interval_ms", str(seconds(interval_) * 1000))
    out = out.replace("$__interval", interval_)
    for name in sorted(variables, key=len, reverse=True):  # $station before $st
        values, multi = variables[name]
        v = format_value(values, multi)
        out = out.replace(f"${{{name}}}", v).replace(f"[[{name}]]", v).replace(f"${name}", v)
    return out


@dataclass
class Result:
    dashboard: str
    where: str  # panel title, "annotation …" or "variable …"
    ref: str
    query: str
    rows: int = 0
    error: str = ""
    columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and self.rows > 0


def _count(series: list[dict]) -> tuple[int, list[str]]:
    rows = sum(len(s.get("values", [])) for s in series)
    cols = sorted({c for s in series for c in s.get("columns", [])})
    return rows, cols


def _panels(panels: list[dict]) -> Iterator[dict]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def resolve_variables(doc: dict, env: dict[str, str], time_from: str,
                      results: list[Result]) -> dict[str, tuple[list[str], bool]]:
    """Each variable's values from its own query, in dashboard order (later variables may
    use earlier ones); what the dashboard opens with: All, or its current value."""
    resolved: dict[str, tuple[list[str], bool]] = {}
    for v in doc.get("templating", {}).get("list", []):
        query = interpolate(v["query"], resolved, time_from)
        r = Result(doc["uid"], f"variable {v['name']}", v["name"], query)
        results.append(r)
        try:
            series = influxql.query(env, query)
        except influxql.QueryError as e:
            r.error = str(e)
            raise CheckError(f"{doc['uid']}: variable {v['name']}: {e}") from None
        values = sorted({row["value"] for row in influxql.rows(series)})
        r.rows, r.columns = len(values), ["value"]
        if not values:
            raise CheckError(f"{doc['uid']}: variable {v['name']} has no values ({query})")
        multi = bool(v.get("multi") or v.get("includeAll"))
        current = (v.get("current") or {}).get("value")
        if not multi and current in values:
            values = [current]
        elif not multi:
            values = values[:1]
        resolved[v["name"]] = (values, multi)
    return resolved


def queries(doc: dict) -> Iterator[tuple[str, str, str, str | None]]:
    """(where, refId, query, panel interval) of every panel target and annotation."""
    for a in doc.get("annotations", {}).get("list", []):
        target = a.get("target") or {}
        if "query" in target:
            yield f"annotation {a.get('name')}", target.get("refId", ""), target["query"], None
    for p in _panels(doc.get("panels", [])):
        for target in p.get("targets", []) or []:
            if "query" in target:
                yield p.get("title", "?"), target.get("refId", ""), target["query"], \
                    p.get("interval")


def check(doc: dict[str, Any], env: dict[str, str], min_interval_s: int = 300,
          time_from: str | None = None) -> list[Result]:
    """Every query of `doc` run with the read-only user; a Result each."""
    time_from = time_from or doc.get("time", {}).get("from", "now-24h")
    time_to = doc.get("time", {}).get("to", "now")  # the air dashboard reaches ahead: forecasts
    results: list[Result] = []
    variables = resolve_variables(doc, env, time_from, results)
    for where, ref, query, panel_interval in queries(doc):
        q = interpolate(query, variables, time_from, time_to,
                        interval_=interval(time_from, min_interval_s, panel_interval))
        r = Result(doc["uid"], where, ref, q)
        try:
            r.rows, r.columns = _count(influxql.query(env, q))
        except influxql.QueryError as e:
            r.error = str(e)
        results.append(r)
    return results
