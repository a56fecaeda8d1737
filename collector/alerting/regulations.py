"""Regulation rule sets (collector/rules/qcvn*.json) and a department's official numbers.

A rule set is a regulation as data: its source, effective date, transition end, what it
replaces (or `superseded_by`), and per parameter and averaging period a `min` and/or `max`.
A bound is a number, "not found" (the reference has no usable source: never a guess), a
`{column: …}` of those, or, for limits tiered by the facility's design flow, a list of
`{"below_m3d": n, "value": x}` ending with `{"value": x}`. Each value has a confidence
(A, B, C); where it is "not found" a `fallback` may carry the superseded regulation's value,
which is applied and labelled as such ("limit from QCVN 14:2008/BTNMT, pending QCVN
14:2025/BTNMT text").

The department's file (`regulations.json` in the run folder, OVERRIDE_FILE) holds official
numbers and corrected dates without a release; a value there wins over the shipped one.
Every error names the file and the key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from collector.alerting import time_periods

NOT_FOUND = "not found"
LETTERS = ("A", "B", "C")
PERIODS = ("1h", "8h", "24h")
OVERRIDE_FILE = "regulations.json"
# what a status is called where people read it (rules show, alert texts, dashboards)
STATUSES = ("in force", "fallback", "department", "not found")


class RegulationError(ValueError):
    """A rule set or the department's file holds a key or value that cannot be used."""


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise RegulationError(f"{where}: {msg}")


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _is_date(x: Any) -> bool:
    try:
        date.fromisoformat(x)
    except (TypeError, ValueError):
        return False
    return True


# -- checking --------------------------------------------------------------------------------


def _check_tiers(tiers: list, where: str) -> None:
    _need(bool(tiers), where, "an empty tier list")
    last = -math.inf
    for i, t in enumerate(tiers):
        w = f"{where}[{i}]"
        _need(isinstance(t, dict) and _num(t.get("value")), w,
              "a tier is {\"below_m3d\": number, \"value\": number}")
        extra = sorted(set(t) - {"below_m3d", "value"})
        _need(not extra, w, f"unknown keys {extra}")
        if i == len(tiers) - 1:
            _need("below_m3d" not in t, w, "the last tier has no below_m3d (it covers the rest)")
        else:
            b = t.get("below_m3d")
            _need(_num(b) and b > last, f"{w}.below_m3d",
                  f"{b!r} is not a flow (m3/day) above the previous tier's")
            last = b


def _check_value(v: Any, where: str, allow_missing: bool) -> None:
    if isinstance(v, list):
        _check_tiers(v, where)
    else:
        _need(_num(v) or (allow_missing and v == NOT_FOUND), where,
              f"{v!r} is not a number" + (f" or {NOT_FOUND!r}" if allow_missing else "")
              + " or a list of flow tiers")


def check_bound(bound: Any, where: str, allow_missing: bool = True) -> None:
    """A bound: value, or {column: value}; a value: number, "not found" or flow tiers."""
    if isinstance(bound, dict):
        _need(bool(bound) and all(isinstance(k, str) for k in bound), where,
              f"{bound!r} is not {{column: value}}")
        for col, v in bound.items():
            _check_value(v, f"{where}.{col}", allow_missing)
    else:
        _check_value(bound, where, allow_missing)


def _check_confidence(c: Any, where: str) -> None:
    ok = c in LETTERS or (isinstance(c, dict) and bool(c) and all(v in LETTERS
                                                                   for v in c.values()))
    _need(ok, where, f"{c!r} is not one of {', '.join(LETTERS)} or {{column: letter}}")


def check_rule_set(doc: dict[str, Any], where: str) -> None:
    """Every key the alerts stage and `quantrac rules show` read, with the file in errors."""
    for key in ("id", "regulation", "source"):
        _need(isinstance(doc.get(key), str) and bool(doc[key]), f"{where}: {key}", "missing")
    for key in ("effective", "transition_end"):
        _need(_is_date(doc.get(key)) or doc.get(key) == NOT_FOUND, f"{where}: {key}",
              f"{doc.get(key)!r} is not a date (YYYY-MM-DD) or {NOT_FOUND!r}")
    rep = doc.get("replaces")
    _need(isinstance(rep, list) and all(isinstance(r, str) for r in rep),
          f"{where}: replaces", "must be a list of regulations")
    _need(isinstance(doc.get("superseded_by", ""), str), f"{where}: superseded_by",
          "must be a regulation")
    limits = doc.get("limits")
    _need(isinstance(limits, list) and bool(limits), f"{where}: limits", "must be a list")
    periods = _periods(doc, where)
    for i, lim in enumerate(limits):
        check_limit(lim, f"{where}: limits[{i}]", periods=periods)


def _periods(doc: dict[str, Any], where: str) -> tuple[str, ...]:
    """The periods a limit may name: averaging times, or a noise rule set's periods of the
    day (time_periods.py)."""
    try:
        named = time_periods.check(doc, where)
    except ValueError as e:
        raise RegulationError(str(e)) from None
    return named or PERIODS


def check_limit(lim: Any, w: str, department: bool = False,
                periods: tuple[str, ...] = PERIODS) -> None:
    _need(isinstance(lim, dict), w, "must be an object")
    _need(isinstance(lim.get("param"), str) and bool(lim["param"]), f"{w}.param", "missing")
    _need(lim.get("period") in periods, f"{w}.period",
          f"{lim.get('period')!r} is not one of {', '.join(periods)}")
    _need(isinstance(lim.get("unit"), str), f"{w}.unit", "missing")
    fb = lim.get("fallback")
    _need("min" in lim or "max" in lim, w, "needs min or max")
    for bound in ("min", "max"):
        if bound in lim:
            check_bound(lim[bound], f"{w}.{bound}", allow_missing=not department)
    if "confidence" in lim or department:
        _check_confidence(lim.get("confidence"), f"{w}.confidence")
    if department:
        _need(isinstance(lim.get("source"), str) and bool(lim["source"]), f"{w}.source",
              "say where the number comes from (the signed text, its table)")
    if "hysteresis" in lim:
        _need(_num(lim["hysteresis"]) and lim["hysteresis"] >= 0, f"{w}.hysteresis",
              f"{lim['hysteresis']!r} is not a number >= 0")
    if fb is not None:
        _need(isinstance(fb, dict) and isinstance(fb.get("regulation"), str), f"{w}.fallback",
              "needs the regulation the value comes from")
        _need("min" in fb or "max" in fb, f"{w}.fallback", "needs min or max")
        for bound in ("min", "max"):
            if bound in fb:
                check_bound(fb[bound], f"{w}.fallback.{bound}", allow_missing=False)
        _check_confidence(fb.get("confidence"), f"{w}.fallback.confidence")
    for day, change in lim.get("from", {}).items():
        _need(_is_date(day), f"{w}.from", f"{day!r} is not a date (YYYY-MM-DD)")
        _need(isinstance(change, dict) and set(change) <= {"min", "max"}
              and all(_num(v) for v in change.values()), f"{w}.from.{day}",
              "must be {\"min\"|\"max\": number}")


# -- the department's file -------------------------------------------------------------------


@dataclass(frozen=True)
class Department:
    """Official numbers and corrected dates a department entered, per regulation text."""

    path: str = ""
    limits: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    meta: dict[str, dict[str, str]] = field(default_factory=dict)
    # the department's noise decisions (clock hours, stations' regimes): checked by
    # collector/alerting/noise_regime.py
    noise: dict[str, Any] = field(default_factory=dict)


def check_department(doc: dict[str, Any], path: str,
                     known: dict[str, dict[str, Any]]) -> Department:
    """The department's file, checked against the shipped rule sets `known` (by text)."""
    top = {"about", "regulations", "noise"}
    _need(set(doc) <= top, path,
          f"unknown keys {sorted(set(doc) - top)} (about, regulations, noise)")
    _need(isinstance(doc.get("noise", {}), dict), f"{path}: noise", "must be an object")
    regs = doc.get("regulations", {})
    _need(isinstance(regs, dict), f"{path}: regulations", "must be {regulation: {...}}")
    limits: dict[str, list[dict[str, Any]]] = {}
    meta: dict[str, dict[str, str]] = {}
    for text, entry in regs.items():
        w = f"{path}: regulations.{text}"
        _need(text in known, w, f"no shipped rule set is {text!r} "
              f"(known: {', '.join(sorted(known))})")
        _need(isinstance(entry, dict), w, "must be an object")
        extra = set(entry) - {"effective", "transition_end", "limits", "note"}
        _need(not extra, w, f"unknown keys {sorted(extra)} (effective, transition_end, limits)")
        for key in ("effective", "transition_end"):
            if key in entry:
                _need(_is_date(entry[key]), f"{w}.{key}",
                      f"{entry[key]!r} is not a date (YYYY-MM-DD)")
                meta.setdefault(text, {})[key] = entry[key]
        lims = entry.get("limits", [])
        _need(isinstance(lims, list), f"{w}.limits", "must be a list")
        shipped = {(x["param"], x["period"]): x for x in known[text]["limits"]}
        for i, lim in enumerate(lims):
            lw = f"{w}.limits[{i}]"
            check_limit(lim, lw, department=True, periods=_periods(known[text], text))
            ship = shipped.get((lim["param"], lim["period"]))
            _need(ship is None or ship["unit"] == lim["unit"], f"{lw}.unit",
                  f"{lim['unit']!r}, but {text} gives {lim['param']} in "
                  f"{ship['unit'] if ship else ''!r}")
        limits[text] = lims
    return Department(path, limits, meta, doc.get("noise", {}))


# -- what applies to a station ---------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """The limit that applies to one parameter and period at one station, and why."""

    param: str
    period: str
    unit: str
    min: float | None
    max: float | None
    rule_id: str
    regulation: str  # the rule set the station is assigned
    source: str  # where the numbers come from (the fallback's regulation, the department's)
    confidence: str  # A, B, C, or "not found"
    status: str  # one of STATUSES
    label: str  # in English, for people: "limit from …, pending … text"; "" when in force
    note: str = ""
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _value(bound: Any, column: str | None, flow: float | None) -> tuple[float | None, str]:
    """(number, "") or (None, why): why is "not found", "no column" or "no design flow"."""
    if bound is None:
        return None, "none"
    if isinstance(bound, dict):
        if column is None or column not in bound:
            return None, "no column"
        bound = bound[column]
    if bound == NOT_FOUND:
        return None, NOT_FOUND
    if isinstance(bound, list):
        if flow is None:
            return None, "no design flow"
        tier = next(t for t in bound if "below_m3d" not in t or flow < t["below_m3d"])
        return float(tier["value"]), ""
    return float(bound), ""


def _letter(conf: Any, column: str | None, default: str) -> str:
    if isinstance(conf, dict):
        return conf.get(column or "", default)
    return conf if isinstance(conf, str) else default


def file_letter(doc: dict[str, Any]) -> str:
    """A file-wide confidence ("B: several …") for limits that give none of their own."""
    text = str(doc.get("confidence", ""))
    return text[0] if text[:1] in LETTERS and text[1:2] in (":", "") else "not stated"


def fallback_label(source: str, regulation: str) -> dict[str, str]:
    return {"en": f"limit from {source}, pending {regulation} text",
            "vi": f"giới hạn theo {source}, chờ văn bản {regulation}"}


def resolve(doc: dict[str, Any], dept: Department, column: str | None,
            flow: float | None, params: set[str] | None = None,
            ) -> tuple[list[Applied], list[str]]:
    """What applies from rule set `doc` for a station's column and design flow, per limit;
    and the problems (no such column, a tiered limit without a design flow)."""
    text = doc["regulation"]
    mine = {(x["param"], x["period"]): x for x in dept.limits.get(text, [])}
    shipped = {(x["param"], x["period"]): x for x in doc["limits"]}
    out, problems = [], []
    for key in [*shipped, *(k for k in mine if k not in shipped)]:
        lim, off = shipped.get(key, {}), mine.get(key, {})
        param, period = key
        if params is not None and param not in params:
            continue
        unit = lim.get("unit") or off["unit"]
        got: dict[str, float | None] = {}
        sources: set[str] = set()
        letters: list[str] = []
        whys: set[str] = set()
        used_fallback = used_dept = False
        fb = lim.get("fallback") or {}
        for bound in ("min", "max"):
            if bound not in lim and bound not in off and bound not in fb:
                got[bound] = None
                continue
            x, why = _value(off.get(bound), column, flow)
            whys.add(why)
            if x is not None:
                got[bound], used_dept = x, True
                sources.add(f"{off['source']} (department)")
                letters.append(_letter(off["confidence"], column, "A"))
                continue
            x, why = _value(lim.get(bound), column, flow)
            if x is not None:
                got[bound] = x
                sources.add(text)
                letters.append(_letter(lim.get("confidence"), column, file_letter(doc)))
                continue
            whys.add(why)
            fx, fwhy = _value(fb.get(bound), column, flow)
            whys.add(fwhy)
            got[bound] = fx
            if fx is not None:
                used_fallback = True
                sources.add(fb["regulation"])
                letters.append(_letter(fb.get("confidence"), column, "not stated"))
        if "no design flow" in whys:
            problems.append(f"{text} tiers {param} {period} by design flow: the registry "
                            "gives the station no design_flow_m3d")
        lo, hi = got.get("min"), got.get("max")
        rule_id = f"{doc['id']}.{param}.{period}"
        if lo is None and hi is None:
            named = {c for d in (lim, fb) for b in ("min", "max")
                     if isinstance(d.get(b), dict) for c in d[b]}
            if "no column" in whys and column not in named:
                problems.append(f"{text} has no column {column!r} for {param} {period}")
                continue
            status, label, conf, source = "not found", f"{text}: value not found, no fallback", \
                NOT_FOUND, ""
        elif used_fallback:
            source = ", ".join(sorted(sources))
            status, conf = "fallback", worst(letters)
            label = fallback_label(source, text)["en"]
        else:
            source = ", ".join(sorted(sources))
            status = "department" if used_dept else "in force"
            conf, label = worst(letters), ""
        note = "; ".join(x for x in (lim.get("note", ""), fb.get("note", ""),
                                     off.get("note", "")) if x)
        out.append(Applied(param, period, unit, lo, hi, rule_id, text, source, conf, status,
                           label, note, {**lim, **off}))
    return out, problems


def worst(letters: list[str]) -> str:
    """The weakest of several confidences (A < B < C < anything else)."""
    order = {c: i for i, c in enumerate(LETTERS)}
    return max(letters, key=lambda c: order.get(c, len(LETTERS))) if letters else NOT_FOUND


def transition_end(doc: dict[str, Any], dept: Department) -> str:
    return dept.meta.get(doc["regulation"], {}).get("transition_end", doc["transition_end"])


def effective(doc: dict[str, Any], dept: Department) -> str:
    return dept.meta.get(doc["regulation"], {}).get("effective", doc["effective"])


def transition_warning(station: str, doc: dict[str, Any] | None,
                       by_text: dict[str, dict[str, Any]], dept: Department,
                       today: date) -> str | None:
    """A warning for a station whose rule set is superseded and past the transition end its
    successor gives (or whose successor gives none: the permit must say)."""
    if doc is None or not doc.get("superseded_by"):
        return None
    new_text = doc["superseded_by"]
    new = by_text.get(new_text)
    end = transition_end(new, dept) if new else NOT_FOUND
    since = effective(new, dept) if new else NOT_FOUND
    if end != NOT_FOUND:
        if today <= date.fromisoformat(end):
            return None
        return (f"station {station}: {doc['regulation']} is past its transition end {end}: "
                f"{new_text} applies; assign the station to it")
    return (f"station {station}: {doc['regulation']} is superseded by {new_text} (in force "
            f"since {since}); its transition end is {NOT_FOUND}: keep it only where the "
            "station's permit cites it")


def load_department(path: Path | None, known: dict[str, dict[str, Any]],
                    read: Any) -> Department:
    """The department's file at `path` (absent: nothing entered), checked."""
    if path is None or not Path(path).exists():
        return Department(str(path or ""))
    return check_department(read(Path(path)), str(path), known)
