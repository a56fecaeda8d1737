"""Alert rules as data (collector/rules/*.json) → `Rule`s for each registry station.

`defaults.json` names the regulation files and holds the general rules (AQI band, offline,
sensor error, QC failure rate, spool high-water), the semantics defaults and the texts. A
regulation file lists limits per parameter and averaging period; a limit is a number or, per
column, `{column: number}`, and the station's registry `regulation` and `column` pick them
(wastewater limits × the station's `k_factor` where the file says so). Every error names the
file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

import boards
from boards.param_names import base
from collector.alerting import regulations as regs
from collector.alerting.engine import SEVERITIES, SIGNALS, Rule
from quantrac_common.files import load_json_object

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
PERIODS = ("1h", "8h", "24h")
COLLECTOR = "collector"  # the pseudo-station of the collector's own alerts


# how a limit carried over from a superseded regulation reads in alerts ({regulation} in the
# texts); defaults.json `labels` may reword it
LABELS = {"fallback": {"vi": "{source} (tạm áp dụng, chờ văn bản {regulation})",
                       "en": "{source} (pending the {regulation} text)"}}


class RulesError(ValueError):
    """A rules file is missing or holds a key or value the alert stage cannot use."""


@dataclass(frozen=True)
class RuleSet:
    defaults: dict[str, Any]
    regulations: dict[str, dict[str, Any]]  # registry `regulation` text → file document
    rules: list[dict[str, Any]]
    names: dict[str, str]
    units: dict[str, str]
    periods: dict[str, dict[str, str]]
    texts: dict[str, dict[str, dict[str, str]]]
    department: regs.Department = regs.Department()
    labels: dict[str, dict[str, str]] = field(default_factory=lambda: dict(LABELS))


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise RulesError(f"{where}: {msg}")


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _read(path: Path) -> dict[str, Any]:
    return load_json_object(path, RulesError)


def _check_rule(r: Any, where: str) -> None:
    _need(isinstance(r, dict), where, "must be an object")
    _need(isinstance(r.get("id"), str) and bool(r["id"]), f"{where}.id", "missing")
    _need(r.get("signal") in SIGNALS, f"{where}.signal",
          f"{r.get('signal')!r} is not one of {', '.join(SIGNALS)}")
    _need(r.get("severity", "warning") in SEVERITIES, f"{where}.severity",
          f"{r.get('severity')!r} is not one of {', '.join(SEVERITIES)}")
    for key in ("above", "below", "hysteresis", "hysteresis_pct", "pending_s"):
        if key in r:
            _need(_num(r[key]), f"{where}.{key}", f"{r[key]!r} is not a number")
    if r["signal"] in ("aqi", "qc_fail", "stat"):
        _need("above" in r or "below" in r, where, f"a {r['signal']} rule needs above or below")
    if r["signal"] == "offline":
        n = r.get("missed_reports")
        _need(isinstance(n, int) and n >= 1, f"{where}.missed_reports", f"{n!r} is not >= 1")
    if r["signal"] == "stat":
        _need(isinstance(r.get("path"), str) and bool(r["path"]), f"{where}.path", "missing")


def load(folder: Path | str | None = None, department: Path | str | None = None) -> RuleSet:
    """The rule set in `folder` (default: the shipped collector/rules/), every file checked;
    with the official numbers of the department's file (`department`, when it exists)."""
    folder = Path(folder) if folder else RULES_DIR
    top = folder / "defaults.json"
    doc = _read(top)
    defaults = {"pending_s": 0, "hysteresis_pct": 5, "severity": "warning",
                **doc.get("defaults", {})}
    _check_rule({"id": "defaults", "signal": "mean", **defaults}, f"{top}: defaults")
    regulations: dict[str, dict[str, Any]] = {}
    for name in doc.get("regulations", []):
        reg = _read(folder / name)
        try:
            regs.check_rule_set(reg, str(folder / name))
        except regs.RegulationError as e:
            raise RulesError(str(e)) from None
        regulations[reg["regulation"]] = reg
    rules = doc.get("rules", [])
    _need(isinstance(rules, list), f"{top}: rules", "must be a list")
    ids = set()
    for i, r in enumerate(rules):
        _check_rule(r, f"{top}: rules[{i}]")
        _need(r["id"] not in ids, f"{top}: rules[{i}].id", f"{r['id']!r} appears twice")
        ids.add(r["id"])
    texts = doc.get("texts", {})
    for group in ("limit_above", "limit_below", "aqi", "offline", "status", "qc_fail", "stat"):
        for event in ("open", "close"):
            t = texts.get(group, {}).get(event, {})
            _need(isinstance(t.get("vi"), str) and isinstance(t.get("en"), str),
                  f"{top}: texts.{group}.{event}", "needs vi and en")
    t = texts.get("correction", {})
    _need(isinstance(t.get("vi"), str) and isinstance(t.get("en"), str),
          f"{top}: texts.correction", "needs vi and en")
    try:
        dept = regs.load_department(Path(department) if department else None, regulations,
                                    _read)
    except regs.RegulationError as e:
        raise RulesError(str(e)) from None
    labels = {**LABELS, **doc.get("labels", {})}
    for key, t in labels.items():
        _need(isinstance(t, dict) and all(isinstance(t.get(x), str) for x in ("vi", "en")),
              f"{top}: labels.{key}", "needs vi and en")
    return RuleSet(defaults, regulations, rules, doc.get("names", {}), doc.get("units", {}),
                   doc.get("periods", {}), texts, dept, labels)


def _local_midnight(day: str, tz: tzinfo) -> int:
    return int(datetime.combine(date.fromisoformat(day), datetime.min.time(), tz).timestamp())


def _hysteresis(spec: dict[str, Any], defaults: dict[str, Any], *limits: float | None) -> float:
    if "hysteresis" in spec:
        return float(spec["hysteresis"])
    pct = float(spec.get("hysteresis_pct", defaults["hysteresis_pct"]))
    present = [abs(x) for x in limits if x is not None]
    return min(present) * pct / 100 if present else 0.0


def applied(rs: RuleSet, station: boards.Station, params: set[str] | None = None,
            ) -> tuple[list[regs.Applied], list[str]]:
    """Which limit applies to each parameter of a station, from which rule, how sure; and
    warnings (no rules file, no such column, no design flow for a tiered limit)."""
    reg = rs.regulations.get(station.regulation)
    if reg is None:
        return [], [f"station {station.id}: no rules file for regulation "
                    f"{station.regulation!r}: no limit alerts"]
    flow = station.raw.get("design_flow_m3d")
    # a second probe's channel (temp_do) is judged by its base parameter's limit
    got, problems = regs.resolve(reg, rs.department, station.column,
                                 None if flow is None else float(flow),
                                 None if params is None else {base(p) for p in params})
    return got, [f"station {station.id}: {p}" for p in problems]


def transition_warnings(rs: RuleSet, stations: Iterable[boards.Station],
                        today: date | None = None) -> list[str]:
    """Stations assigned to a superseded rule set past its transition end (or one whose
    successor gives no transition end)."""
    today = today or date.today()
    out = []
    for st in stations:
        w = regs.transition_warning(st.id, rs.regulations.get(st.regulation), rs.regulations,
                                    rs.department, today)
        if w:
            out.append(w)
    return out


def channels_of(a: regs.Applied, params: Iterable[str]) -> list[str]:
    """The station's channels judged by limit `a`: its parameter and a second probe's
    (`ph`, `ph_2`), or the parameter itself when the station records none of them."""
    return sorted((p for p in params if base(p) == a.param), key=lambda p: (len(p), p)) \
        or [a.param]


def channel_rule_id(a: regs.Applied, channel: str) -> str:
    """`qcvn08_2023.ph.1h` for the parameter itself, `qcvn08_2023.ph_2.1h` for a second
    probe's channel: its alerts open and close apart from the first's."""
    if channel == a.param:
        return a.rule_id
    return f"{a.rule_id[:-len(f'{a.param}.{a.period}')]}{channel}.{a.period}"


def regulation_rules(rs: RuleSet, station: boards.Station, params: set[str],
                     tz: tzinfo) -> tuple[list[Rule], list[str]]:
    """Limit rules for one station from its regulation and column; and warnings. Each channel
    of a parameter gets its own rule (id `<file>.<channel>.<period>`), so two probes' alerts
    open and close apart."""
    got, warnings = applied(rs, station, params)
    reg = rs.regulations.get(station.regulation, {})
    k = float(station.raw.get("k_factor", 1.0))
    out = []
    for a in got:
        if a.status == "not found":
            continue
        lim = a.spec
        # K multiplies the numbers of a file that says so (QCVN 14:2008), never a fallback's
        # or a department's
        scale = k if (a.status == "in force" and reg.get("k_factor")
                      and lim.get("k_factor", True)) else 1.0
        lo, hi = (None if a.min is None else a.min * scale), \
            (None if a.max is None else a.max * scale)
        steps = tuple((_local_midnight(day, tz),
                       hi if "max" not in ch else ch["max"] * scale,
                       lo if "min" not in ch else ch["min"] * scale)
                      for day, ch in sorted(lim.get("from", {}).items()))
        basis = {} if a.status != "fallback" else {
            lang: t.format(source=a.source, regulation=a.regulation)
            for lang, t in rs.labels["fallback"].items()}
        for channel in channels_of(a, params):
            out.append(Rule(
                id=channel_rule_id(a, channel),
                signal="mean", above=hi, below=lo,
                unit=a.unit, hysteresis=_hysteresis(lim, rs.defaults, lo, hi),
                pending_s=int(rs.defaults["pending_s"]), severity=rs.defaults["severity"],
                param=channel, period=a.period, regulation=a.regulation, basis=basis,
                steps=steps,
                texts={g: rs.texts[g] for g in ("limit_above", "limit_below", "correction")}))
    return out, warnings


def general_rules(rs: RuleSet, station: str, kind: str, params: set[str],
                  report_s: int) -> list[Rule]:
    """The general rules (AQI, offline, sensor error, QC rate, stat) for one station."""
    out = []
    for spec in rs.rules:
        if spec.get("station", None) not in (None, station) or \
                (spec.get("station") is None and station == COLLECTOR):
            continue
        if kind not in spec.get("kinds", [kind]):
            continue
        base = dict(signal=spec["signal"], above=spec.get("above"), below=spec.get("below"),
                    unit=spec.get("unit", ""), pending_s=int(spec.get("pending_s",
                                                                      rs.defaults["pending_s"])),
                    severity=spec.get("severity", rs.defaults["severity"]),
                    period=spec.get("period", ""), texts={spec["signal"]:
                                                          rs.texts[spec["signal"]]})
        base["hysteresis"] = _hysteresis(spec, rs.defaults, base["above"], base["below"])
        if spec["signal"] in ("status", "qc_fail"):
            if spec["signal"] == "status":
                base.update(above=0.5, hysteresis=0.0)
            out += [Rule(id=f"{spec['id']}.{p}", param=p, **base) for p in sorted(params)]
        elif spec["signal"] == "offline":
            base.update(above=0.5, hysteresis=0.0)
            out.append(Rule(id=spec["id"], window_s=int(spec["missed_reports"]) * report_s,
                            **base))
        else:
            out.append(Rule(id=spec["id"], param=spec.get("param", ""),
                            path=spec.get("path", ""), per=spec.get("per", ""), **base))
    return out


def for_registry(rs: RuleSet, registry: str = "phu-quoc") -> tuple[dict[str, list[Rule]],
                                                                    list[str]]:
    """Every station's rules (and the collector's own under "collector"); warnings."""
    reg = boards.registry(registry)
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(reg.timezone)
    out: dict[str, list[Rule]] = {}
    warnings: list[str] = []
    for st in reg.stations:
        params = set(st.params())
        report_s = int(boards.profile(st.profile).get("report_s", 300))
        rules, warn = regulation_rules(rs, st, params, tz)
        out[st.id] = rules + general_rules(rs, st.id, st.kind, params, report_s)
        warnings += warn
    out[COLLECTOR] = general_rules(rs, COLLECTOR, "", set(), 0)
    return out, warnings
