"""A bulletin's content, in no language yet: per station the data completeness, each limit
with the means judged against it (and the rule, its status and confidence), the exceedances
with their periods, the hourly and daily VN_AQI, device faults and alerts, the review status.

The limits are what the alerts stage applies (collector/alerting/rules.py: the station's rule
set, the department's numbers, a limit's dated steps and a wastewater K factor); a mean is
judged only when complete, in the limit's unit. Generic over whatever parameters and limits a
station has.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

import boards
from collector.alerting import rules as rules_mod
from collector.alerting.regulations import NOT_FOUND
from collector.alerting.units import to_unit
from collector.domain import aqi_health
from collector.report import fetch
from collector.review.marks import APPROVE, FLAG, Review


@dataclass(frozen=True)
class Span:
    kind: str  # "daily" or "monthly"
    first: date  # first local day
    last: date  # last local day, inclusive
    tz: ZoneInfo

    @property
    def after(self) -> int:
        return midnight(self.first, self.tz)

    @property
    def until(self) -> int:
        return midnight(self.last + timedelta(days=1), self.tz)

    @property
    def label(self) -> str:
        return self.first.isoformat() if self.kind == "daily" else f"{self.first:%Y-%m}"


def midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, datetime.min.time(), tz).timestamp())


def daily(day: date, tz: ZoneInfo) -> Span:
    """ValueError for a day outside 1970-2099 (a typo; the year 9999's next day overflows)."""
    return _checked(Span("daily", day, day, tz))


def _checked(span: Span) -> Span:
    if not 1970 <= span.first.year <= 2099:
        raise ValueError(f"{span.label}: a bulletin covers the years 1970 to 2099")
    return span


def monthly(month: str, tz: ZoneInfo) -> Span:
    """`month` is YYYY-MM; ValueError naming it otherwise."""
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise ValueError(f"{month!r} is not a month (YYYY-MM)") from None
    if not 1970 <= first.year <= 2099:  # (December 9999's next month overflows)
        raise ValueError(f"{month}: a bulletin covers the years 1970 to 2099")
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Span("monthly", first, nxt - timedelta(days=1), tz)


def review_status(station: str, span: Span, review: Review | None) -> dict[str, Any]:
    """The operator's review of the span (collector/review/): how many of its local days are
    approved and by whom, and the flags that cover part of it (records after `start` up to
    and including `end`, as the span's)."""
    first, last = span.first.isoformat(), span.last.isoformat()
    marks = review.marks if review is not None else []
    approvals = [m for m in marks if m.type == APPROVE and m.station == station
                 and first <= m.day <= last]
    return {"days": (span.last - span.first).days + 1,
            "approved": len({m.day for m in approvals}),
            "by": list(dict.fromkeys(m.by for m in approvals)),
            "flags": [{"param": m.param, "start": m.start, "end": m.end, "reason": m.reason,
                       "by": m.by} for m in marks if m.type == FLAG and m.station == station
                      and m.start < span.until and m.end > span.after]}


def station(st: boards.Station, data: fetch.StationData, rs: rules_mod.RuleSet,
            span: Span, review: Review | None = None) -> dict[str, Any]:
    params = st.params()
    report_s = int(boards.profile(st.profile).get("report_s", 300))
    expected = (span.until - span.after) // report_s
    completeness = [{"param": p, "valid": data.valid.get(p, 0),
                     "records": data.records.get(p, 0), "expected": expected,
                     "pct": 100.0 * data.valid.get(p, 0) / expected if expected else 0.0}
                    for p in sorted(params)]
    return {"id": st.id, "name": st.name, "kind": st.kind, "regulation": st.regulation,
            "column": st.column, "review": review_status(st.id, span, review),
            "completeness": completeness, "limits": _limits(st, data, rs, span),
            "aqi_hour": [a for a in data.aqi if a["period"] == "hour"],
            "aqi_day": [{**a, "advice": aqi_health.of_aqi(a["aqi"])}
                        for a in data.aqi if a["period"] == "day"],
            "faults": _faults(data.faults), "alerts": data.alerts,
            "series": _series(data), "noise": data.noise}


def _limits(st: boards.Station, data: fetch.StationData, rs: rules_mod.RuleSet,
            span: Span) -> list[dict[str, Any]]:
    params = set(st.params())
    got, _ = rules_mod.applied(rs, st, params)
    rules, _ = rules_mod.regulation_rules(rs, st, params, span.tz)
    by_key = {(r.param, r.period): r for r in rules}
    out = []
    # a second probe's channel (ph_2) is judged by its base's limit in a row of its own
    for a, channel in [(x, ch) for x in got for ch in rules_mod.channels_of(x, params)]:
        rule = by_key.get((channel, a.period))
        judged, exceed = [], []
        for m in data.means:
            if (m["param"], m["period"], m["complete"]) != (channel, a.period, True):
                continue
            v = to_unit(a.param, m["value"], m["unit"], a.unit)
            if v is None:
                continue
            judged.append(v)
            if rule is None:
                continue
            hi, lo = rule.limits(m["time"])
            if hi is not None and v > hi:
                exceed.append({"time": m["time"], "value": v, "limit": hi, "side": "above"})
            elif lo is not None and v < lo:
                exceed.append({"time": m["time"], "value": v, "limit": lo, "side": "below"})
        hi, lo = rule.limits(span.until) if rule else (None, None)
        out.append({"param": channel, "period": a.period, "unit": a.unit, "min": lo,
                    "max": hi, "rule": rule.id if rule else a.rule_id, "status": a.status,
                    "confidence": a.confidence, "source": a.source or NOT_FOUND,
                    "label": a.label, "n": len(judged),
                    "mean": fmean(judged) if judged else None,
                    "highest": max(judged) if judged else None,
                    "lowest": min(judged) if judged else None, "exceed": exceed})
    return out


def _faults(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Device status 01 (calibrating, maintenance) and 02 (device error) per parameter: the
    record times, in order."""
    out: dict[tuple[str, int], list[int]] = {}
    for r in rows:
        out.setdefault((r["param"], r["status"]), []).append(r["time"])
    return [{"param": p, "status": s, "times": ts} for (p, s), ts in sorted(out.items())]


def _series(data: fetch.StationData) -> dict[str, list[tuple[int, float]]]:
    """`<param>/<period>` -> complete means over the span, for the charts."""
    out: dict[str, list[tuple[int, float]]] = {}
    for m in data.means:
        if m["complete"]:
            out.setdefault(f"{m['param']}/{m['period']}", []).append((m["time"], m["value"]))
    return out


def bulletin(env: dict[str, str], registry: boards.Registry, stations: list[boards.Station],
             rs: rules_mod.RuleSet, span: Span, review: Review | None = None) -> dict[str, Any]:
    """Every chosen station's part, read from InfluxDB; a station without a single record in
    the span is listed as silent. `review`: the operator's marks (records flagged invalid
    are not valid in the completeness; approvals and flags are the review status)."""
    parts, silent = [], []
    for st in stations:
        flagged: dict[str, list[tuple[int, int]]] = {}
        for f in review_status(st.id, span, review)["flags"]:
            flagged.setdefault(f["param"], []).append((f["start"], f["end"]))
        data = fetch.station(env, st.id, span.after, span.until, flagged=flagged)
        if not data.records:
            silent.append(st.id)
            continue
        parts.append(station(st, data, rs, span, review))
    return {"kind": span.kind, "label": span.label, "first": span.first.isoformat(),
            "last": span.last.isoformat(), "timezone": str(span.tz),
            "network": registry.network, "province": registry.province,
            "stations": parts, "silent": silent}
