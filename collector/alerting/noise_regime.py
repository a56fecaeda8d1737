"""Which noise regulation judges a station on a given local day, for which kind of area, by
which periods of the day and limits: the registry's `noise` entry, the rule sets
qcvn26_*.json and the department's `noise` decisions (regulations.json).

A registry station that carries a sound-level meter says, per regulation, its area kind and
the local days it applies (QCVN 26:2010 until 2026-12-31, QCVN 26:2025 from 2027-01-01):

    "noise": [{"regulation": "QCVN 26:2010/BTNMT", "area": "normal", "until": "2026-12-31"},
              {"regulation": "QCVN 26:2025/BNNMT", "area": "not found", "from": "2027-01-01"}]

An area or a period's clock hours "not found" (QCVN 26:2025's areas A–E and its periods'
hours are not in the text at hand) means nothing is judged under that regulation: hours are
never guessed into a period. The department's file may enter what the signed text or the
province's zoning gives, each with its source:

    "noise": {"time_periods": {"QCVN 26:2025/BNNMT": {"source": "…", "confidence": "A",
                  "periods": [{"name": "day", "from_hour": 6, "to_hour": 18}, …]}},
              "stations": {"pq-air-02": [{"regulation": …, "area": "D", "from": …,
                                          "source": "…"}]}}

A station listed there takes the department's entries instead of the registry's.
Every error names the file (or station) and the key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import boards
from collector.alerting import regulations as regs
from collector.alerting import time_periods
from collector.domain import noise

NOT_FOUND = "not found"
PARAM = "laeq"
KEYS = {"regulation", "area", "from", "until", "source"}


class NoiseRegimeError(ValueError):
    """A registry `noise` entry or the department's `noise` decisions cannot be used."""


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise NoiseRegimeError(f"{where}: {msg}")


@dataclass(frozen=True)
class Limit:
    period: noise.Period
    max: float | None  # dBA; None: not found for this area (nothing judged)
    status: str  # regulations.STATUSES
    confidence: str
    label: dict[str, str]  # the period as people read it ({"vi", "en"})
    hysteresis: float = 0.0


@dataclass(frozen=True)
class Regime:
    """One regulation judging one station from `first` to `last` (local days, inclusive)."""

    station: str
    regulation: str
    rule_set: str  # the rule set's id (qcvn26_2010)
    area: str  # a column of the rule set, or "not found"
    first: date | None
    last: date | None
    limits: tuple[Limit, ...] = ()
    hours_source: str = ""  # where the periods' clock hours come from
    problems: tuple[str, ...] = field(default=(), compare=False)

    def covers(self, day: date) -> bool:
        return (self.first is None or day >= self.first) and \
            (self.last is None or day <= self.last)

    @property
    def judged(self) -> bool:
        """Hours can be placed in periods and at least one period has a limit."""
        return not self.problems

    def period_of(self, hour: int) -> Limit:
        name = noise.period_of(hour, [x.period for x in self.limits])
        return next(x for x in self.limits if x.period.name == name)


def _date(x: Any, where: str) -> date | None:
    if x is None:
        return None
    try:
        return date.fromisoformat(x)
    except (TypeError, ValueError):
        raise NoiseRegimeError(f"{where}: {x!r} is not a date (YYYY-MM-DD)") from None


def _check_entries(entries: Any, where: str, known: dict[str, dict[str, Any]],
                   department: bool) -> list[dict[str, Any]]:
    _need(isinstance(entries, list) and bool(entries), where,
          "must be a list of {regulation, area, from, until}")
    spans: list[tuple[date | None, date | None]] = []
    for i, e in enumerate(entries):
        w = f"{where}[{i}]"
        _need(isinstance(e, dict), w, "must be an object")
        extra = sorted(set(e) - KEYS)
        _need(not extra, w, f"unknown keys {extra} ({', '.join(sorted(KEYS))})")
        text = e.get("regulation")
        _need(text in known and "time_periods" in known[text], f"{w}.regulation",
              f"{text!r} is not a noise rule set (known: "
              f"{', '.join(sorted(t for t, d in known.items() if 'time_periods' in d))})")
        areas = known[text].get("areas", {})
        area = e.get("area")
        _need(area == NOT_FOUND or area in areas, f"{w}.area",
              f"{area!r} is not an area of {text} ({', '.join(areas)}) or {NOT_FOUND!r}")
        first, last = _date(e.get("from"), f"{w}.from"), _date(e.get("until"), f"{w}.until")
        _need(first is None or last is None or first <= last, w, "until is before from")
        if department:
            _need(isinstance(e.get("source"), str) and bool(e["source"]), f"{w}.source",
                  "say where the assignment comes from (the permit, the zoning decision)")
        for f0, l0 in spans:
            overlap = (first is None or l0 is None or first <= l0) and \
                (last is None or f0 is None or f0 <= last)
            _need(not overlap, w, "its days overlap another entry's: one regulation a day")
        spans.append((first, last))
    return entries


def _periods(doc: dict[str, Any], dept: dict[str, Any], where: str,
             ) -> tuple[list[noise.Period], str]:
    """The rule set's periods, with the department's clock hours where it entered them."""
    text = doc["regulation"]
    shipped = time_periods.periods(doc)
    entry = dept.get("time_periods", {}).get(text)
    if entry is None:
        known = all(p.start is not None for p in shipped)
        return shipped, (text if known else NOT_FOUND)
    w = f"{where}: noise.time_periods.{text}"
    _need(isinstance(entry, dict) and isinstance(entry.get("source"), str)
          and bool(entry["source"]), f"{w}.source", "say where the clock hours come from")
    _need(entry.get("confidence") in regs.LETTERS, f"{w}.confidence",
          f"{entry.get('confidence')!r} is not one of {', '.join(regs.LETTERS)}")
    given = entry.get("periods")
    _need(isinstance(given, list), f"{w}.periods", "must be a list")
    by_name = {p.get("name"): p for p in given if isinstance(p, dict)}
    _need(set(by_name) == {p.name for p in shipped} and len(given) == len(shipped),
          f"{w}.periods", f"must give each of {', '.join(p.name for p in shipped)} once")
    out = []
    for p in shipped:
        g = by_name[p.name]
        out.append(noise.Period(p.name, g.get("from_hour"), g.get("to_hour")))
    try:
        noise.check_periods(out)
        if any(p.start is None for p in out):
            raise noise.NoiseError("give from_hour and to_hour of every period")
    except noise.NoiseError as e:
        raise NoiseRegimeError(f"{w}.periods: {e}") from None
    return out, f"{entry['source']} (department)"


VI_NAMES = {"day": "ban ngày", "evening": "buổi tối", "night": "ban đêm"}


def _labels(doc: dict[str, Any], p: noise.Period) -> dict[str, str]:
    """The period as people read it: "night (21–6 h)", "ban đêm (21–6 h)"."""
    spec = next(x for x in doc["time_periods"] if x["name"] == p.name)
    if p.start is None:
        return {"vi": spec["vi"], "en": spec["en"]}
    hours = f"{p.start}–{p.end} h"
    return {"vi": f"{VI_NAMES.get(p.name, p.name)} ({hours})", "en": f"{p.name} ({hours})"}


def regime(station: str, entry: dict[str, Any], rs_regs: dict[str, dict[str, Any]],
           dept: regs.Department, hysteresis_pct: float, where: str = "") -> Regime:
    doc = rs_regs[entry["regulation"]]
    periods, hours_source = _periods(doc, dept.noise, where or dept.path)
    area = entry["area"]
    problems: list[str] = []
    limits: list[Limit] = []
    got = {}
    if area != NOT_FOUND:
        applied, probs = regs.resolve(doc, dept, area, None, {PARAM})
        problems += probs
        got = {a.period: a for a in applied}
    for p in periods:
        a = got.get(p.name)
        hi = None if a is None else a.max
        limits.append(Limit(p, hi, a.status if a else NOT_FOUND,
                            a.confidence if a else NOT_FOUND, _labels(doc, p),
                            0.0 if hi is None else float(
                                a.spec.get("hysteresis", hi * hysteresis_pct / 100))))
    if area == NOT_FOUND:
        problems.append(f"{doc['regulation']}: the station's area is not found (the "
                        "department's file may assign it): no noise judged")
    if hours_source == NOT_FOUND:
        problems.append(f"{doc['regulation']}: the periods' clock hours are not found (the "
                        "department's file may enter them): no noise judged")
    if all(x.max is None for x in limits) and area != NOT_FOUND:
        problems.append(f"{doc['regulation']}: no LAeq limit for area {area}")
    return Regime(station, doc["regulation"], doc["id"], area,
                  _date(entry.get("from"), "from"), _date(entry.get("until"), "until"),
                  tuple(limits), hours_source, tuple(problems))


def for_station(st: boards.Station, rs_regs: dict[str, dict[str, Any]],
                dept: regs.Department, hysteresis_pct: float = 5.0) -> list[Regime]:
    """The station's noise regimes, the department's entries first (checked)."""
    mine = dept.noise.get("stations", {})
    _need(isinstance(mine, dict), f"{dept.path}: noise.stations", "must be {station: [...]}")
    if st.id in mine:
        entries = _check_entries(mine[st.id], f"{dept.path}: noise.stations.{st.id}",
                                 rs_regs, department=True)
    elif "noise" in st.raw:
        entries = _check_entries(st.raw["noise"], f"registry station {st.id}: noise",
                                 rs_regs, department=False)
    else:
        return []
    got = [regime(st.id, e, rs_regs, dept, hysteresis_pct) for e in entries]
    if PARAM not in st.params():  # a regime without a meter would judge nothing, silently
        got = [dataclasses.replace(r, problems=(*r.problems, "the station carries no "
                                                "sound-level meter (no laeq channel: the "
                                                "profile's noise option)"))
               for r in got]
    return got


def for_registry(registry: str, rs_regs: dict[str, dict[str, Any]], dept: regs.Department,
                 hysteresis_pct: float = 5.0) -> dict[str, list[Regime]]:
    reg = boards.registry(registry)
    ids = {s.id for s in reg.stations}
    for sid in dept.noise.get("stations", {}):
        _need(sid in ids, f"{dept.path}: noise.stations.{sid}", "not a registry station")
    extra = sorted(set(dept.noise) - {"time_periods", "stations"})
    _need(not extra, f"{dept.path}: noise", f"unknown keys {extra} (time_periods, stations)")
    for text in dept.noise.get("time_periods", {}):
        _need(text in rs_regs and "time_periods" in rs_regs[text],
              f"{dept.path}: noise.time_periods.{text}", "not a noise rule set")
    out = {}
    for st in reg.stations:
        got = for_station(st, rs_regs, dept, hysteresis_pct)
        if got:
            out[st.id] = got
    return out


def at(regimes: list[Regime], day: date) -> Regime | None:
    """The regime judging local day `day` (none before the first or after the last)."""
    return next((r for r in regimes if r.covers(day)), None)


def describe(regimes: list[Regime]) -> list[dict[str, Any]]:
    """The station's noise regimes as `quantrac rules show` prints them."""
    return [{"regulation": r.regulation, "rule_set": r.rule_set, "area": r.area,
             "from": None if r.first is None else r.first.isoformat(),
             "until": None if r.last is None else r.last.isoformat(),
             "clock_hours_from": r.hours_source, "judged": r.judged,
             "problems": list(r.problems),
             "limits": [{"period": x.period.name, "label": x.label["en"],
                         "from_hour": x.period.start, "to_hour": x.period.end, "max": x.max,
                         "unit": "dBA", "status": x.status, "confidence": x.confidence,
                         "rule": f"{r.rule_set}.{PARAM}.{x.period.name}"}
                        for x in r.limits]}
            for r in regimes]
