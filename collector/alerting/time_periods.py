"""A rule set's periods of the day (`time_periods`) and, for noise, its `areas` and
`duration_adjustments` (collector/rules/qcvn26_*.json): checked, and turned into the domain's
`noise.Period`s.

QCVN 26 judges noise by periods of the local day (2010: 6–21 h and 21–6 h) rather than by an
averaging time, so such a rule set's limits name one of its periods as their `period`. A
period's clock hours may be "not found" (QCVN 26:2025): then no hour is placed in it.
Errors are ValueError naming the file and the key; regulations.py reports them as its own.
"""

from __future__ import annotations

import math
from typing import Any

from collector.domain import noise

NOT_FOUND = "not found"
LETTERS = ("A", "B", "C", NOT_FOUND)


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ValueError(f"{where}: {msg}")


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def periods(doc: dict[str, Any]) -> list[noise.Period]:
    """The rule set's periods of the day (none for a rule set without `time_periods`)."""
    return [noise.Period(p["name"], None if p["from_hour"] == NOT_FOUND else p["from_hour"],
                         None if p["to_hour"] == NOT_FOUND else p["to_hour"])
            for p in doc.get("time_periods", [])]


def check(doc: dict[str, Any], where: str) -> tuple[str, ...]:
    """The names of the rule set's periods of the day, every key checked; () without any."""
    if "time_periods" not in doc:
        _need("duration_adjustments" not in doc, f"{where}: duration_adjustments",
              "needs time_periods to name its periods")
        return ()
    tp = doc["time_periods"]
    _need(isinstance(tp, list) and bool(tp), f"{where}: time_periods", "must be a list")
    names: list[str] = []
    for i, p in enumerate(tp):
        w = f"{where}: time_periods[{i}]"
        _need(isinstance(p, dict), w, "must be an object")
        _need(isinstance(p.get("name"), str) and bool(p["name"]), f"{w}.name", "missing")
        _need(p["name"] not in names, f"{w}.name", f"{p['name']!r} appears twice")
        names.append(p["name"])
        for key in ("from_hour", "to_hour"):
            _need(key in p, f"{w}.{key}", f"missing (a whole hour 0..23 or {NOT_FOUND!r})")
            h = p[key]
            _need(h == NOT_FOUND or (isinstance(h, int) and not isinstance(h, bool)
                                     and 0 <= h <= 23), f"{w}.{key}",
                  f"{h!r} is not a whole hour 0..23 or {NOT_FOUND!r}")
        _need(p.get("confidence") in LETTERS, f"{w}.confidence",
              f"{p.get('confidence')!r} is not one of {', '.join(LETTERS)}")
    try:
        noise.check_periods(periods(doc))
    except noise.NoiseError as e:
        raise ValueError(f"{where}: time_periods: {e}") from None
    _check_areas(doc.get("areas"), where)
    _check_adjustments(doc.get("duration_adjustments"), names, where)
    return tuple(names)


def _check_areas(areas: Any, where: str) -> None:
    if areas is None:
        return
    _need(isinstance(areas, dict) and bool(areas), f"{where}: areas",
          "must be {area: {confidence, vi, en}}")
    for name, a in areas.items():
        w = f"{where}: areas.{name}"
        _need(isinstance(a, dict) and all(isinstance(a.get(k), str) for k in ("vi", "en")), w,
              "needs vi and en")
        _need(a.get("confidence") in LETTERS, f"{w}.confidence",
              f"{a.get('confidence')!r} is not one of {', '.join(LETTERS)}")


def _check_adjustments(adj: Any, names: list[str], where: str) -> None:
    if adj is None:
        return
    w = f"{where}: duration_adjustments"
    _need(isinstance(adj, dict) and isinstance(adj.get("rows"), list) and bool(adj["rows"]),
          w, "must be {source, confidence, rows: [...]}")
    _need(isinstance(adj.get("source"), str) and bool(adj["source"]), f"{w}.source", "missing")
    _need(adj.get("confidence") in LETTERS, f"{w}.confidence",
          f"{adj.get('confidence')!r} is not one of {', '.join(LETTERS)}")
    last: dict[str, float] = {}
    for i, row in enumerate(adj["rows"]):
        rw = f"{w}.rows[{i}]"
        _need(isinstance(row, dict) and isinstance(row.get("up_to_h"), dict), rw,
              "must be {\"up_to_h\": {period: hours}, \"add_dba\": number}")
        _need(set(row["up_to_h"]) == set(names), f"{rw}.up_to_h",
              f"must give every period ({', '.join(names)})")
        for period, h in row["up_to_h"].items():
            _need(_num(h) and h > last.get(period, 0), f"{rw}.up_to_h.{period}",
                  f"{h!r} is not a duration in hours above the previous row's")
            last[period] = h
        _need(_num(row.get("add_dba")) and row["add_dba"] > 0, f"{rw}.add_dba",
              f"{row.get('add_dba')!r} is not a number of dBA > 0")
