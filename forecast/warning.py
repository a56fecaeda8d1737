"""Early warnings from the forecast daily VN_AQI: rules as data (warning_rules.json), a state
per (station, rule), transitions as `alert` points for the existing alert outputs.

A warning is its own state of the alert protocol: `state` `warning` while it holds,
`closed` after; events `warn`, `update` (the forecast day, level or confidence changed) and
`close`. Every payload carries `forecast: true` and its texts begin "Forecast"/"Dự báo": a
warning is never presented as a measurement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.contracts import Point
from collector.domain import aqi as vn_aqi
from collector.domain import aqi_health
from forecast.forecaster import StationForecast
from forecast.series import LOCAL_OFFSET_H

RULES_PATH = Path(__file__).resolve().parent / "warning_rules.json"
GROUPS = ("general", "sensitive")
SEVERITIES = ("info", "warning", "critical")


class WarningRuleError(ValueError):
    """A warning rule the evaluator cannot use; the message names the rule and the key."""


@dataclass(frozen=True)
class WarningRule:
    id: str
    aqi_at_least: int
    within_h: int
    group: str
    severity: str


def parse_rules(doc: Any, where: str = "warning_rules.json") -> list[WarningRule]:
    if not isinstance(doc, dict) or not isinstance(doc.get("rules"), list):
        raise WarningRuleError(f"{where}: expected an object with a list 'rules'")
    out, seen = [], set()
    for i, r in enumerate(doc["rules"]):
        w = f"{where}: rules[{i}]"
        if not isinstance(r, dict):
            raise WarningRuleError(f"{w}: expected an object")
        rid = r.get("id")
        if not isinstance(rid, str) or not rid or rid in seen:
            raise WarningRuleError(f"{w}: 'id' must be a new non-empty string, got {rid!r}")
        seen.add(rid)
        a, h = r.get("aqi_at_least"), r.get("within_h")
        if not isinstance(a, int) or isinstance(a, bool) or not 0 < a <= 500:
            raise WarningRuleError(f"{w} ({rid}): 'aqi_at_least' must be 1…500, got {a!r}")
        if not isinstance(h, int) or isinstance(h, bool) or not 1 <= h <= 72:
            raise WarningRuleError(f"{w} ({rid}): 'within_h' must be 1…72 (the forecast's "
                                   f"reach), got {h!r}")
        if r.get("group") not in GROUPS:
            raise WarningRuleError(f"{w} ({rid}): 'group' must be one of {GROUPS}")
        if r.get("severity") not in SEVERITIES:
            raise WarningRuleError(f"{w} ({rid}): 'severity' must be one of {SEVERITIES}")
        out.append(WarningRule(rid, a, h, r["group"], r["severity"]))
    return out


def load_rules(path: Path = RULES_PATH) -> list[WarningRule]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise WarningRuleError(f"{path}: cannot read ({e})") from None
    return parse_rules(doc, str(path))


def _confidence(central: int, lo: int | None, threshold: int) -> str:
    """high: even the 10th-percentile day reaches the threshold; medium: the central does."""
    return "high" if lo is not None and lo >= threshold else "medium"


def _day(t_end: int) -> str:
    from datetime import UTC, datetime
    # the day ends at local midnight: its date is the local date an hour before
    return datetime.fromtimestamp(t_end + (LOCAL_OFFSET_H - 1) * 3600, UTC).strftime("%Y-%m-%d")


class Warnings:
    """`judge(forecast)` → alert points of the transitions; state kept in a JSON file."""

    def __init__(self, rules: list[WarningRule], state_path: Path | None = None) -> None:
        self.rules = rules
        self.state_path = state_path
        self.state: dict[str, dict[str, Any]] = {}
        if state_path and state_path.exists():
            self.state = json.loads(state_path.read_text(encoding="utf-8"))

    def _save(self) -> None:
        if self.state_path:
            tmp = self.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.state), encoding="utf-8")
            tmp.replace(self.state_path)

    def open(self, station: str) -> list[dict[str, Any]]:
        """The station's open warnings, each with what `quantrac alerts list` shows: marked a
        forecast, the day and its forecast index, when the day starts (`starts`, epoch s:
        the lead time from any later moment) and the lead time at the issue."""
        out = []
        for k, v in sorted(self.state.items()):
            if not k.startswith(station + "|"):
                continue
            entry = {"rule": k.split("|", 1)[1], "id": v["id"], "since": v["since"],
                     "forecast": True}
            entry |= {f: v[f] for f in ("day", "aqi", "lo", "hi", "limit", "group",
                                        "confidence", "lead_h", "starts", "issued") if f in v}
            out.append(entry)
        return out

    def judge(self, fc: StationForecast) -> list[Point]:
        out = []
        for rule in self.rules:
            key = f"{fc.station}|{rule.id}"
            days = [(t, a, lo, hi) for t, a, lo, hi in fc.aqi_daily
                    if a is not None and a >= rule.aqi_at_least
                    and t - 86400 < fc.issued + rule.within_h * 3600]
            was = self.state.get(key)
            if days:
                t_end, a, lo, hi = max(days, key=lambda d: d[1])
                first = days[0][0]
                info = {"day": _day(t_end), "aqi": a, "lo": lo, "hi": hi,
                        "confidence": _confidence(a, lo, rule.aqi_at_least),
                        "band": vn_aqi.band(a)[0],
                        # hours from the forecast to the start of the first day at or above
                        "lead_h": max(0, (first - 86400 - fc.issued) // 3600),
                        "starts": first - 86400, "issued": fc.issued,
                        "limit": rule.aqi_at_least, "group": rule.group}
                if was is None:
                    self.state[key] = {"id": f"{fc.station}/{rule.id}/{fc.issued}",
                                       "since": fc.issued, **info}
                    out.append(self._point(fc, rule, "warn", self.state[key]))
                elif any(was.get(k) != info[k] for k in ("day", "band", "confidence")):
                    self.state[key] = {**was, **info}
                    out.append(self._point(fc, rule, "update", self.state[key]))
            elif was is not None:
                del self.state[key]
                out.append(self._point(fc, rule, "close", was))
        if out:
            self._save()
        return out

    def _point(self, fc: StationForecast, rule: WarningRule, event: str,
               st: dict[str, Any]) -> Point:
        state = "closed" if event == "close" else "warning"
        advice = aqi_health.of_aqi(st["aqi"])
        who = {"general": ("mọi người", "everyone"),
               "sensitive": ("nhóm nhạy cảm", "sensitive groups")}[rule.group]
        if event == "close":
            vi = (f"{fc.station}: Dự báo (không phải số đo): hết cảnh báo, VN_AQI ngày dự báo "
                  f"trong {rule.within_h} giờ tới dưới {rule.aqi_at_least}")
            en = (f"{fc.station}: Forecast (not a measurement): warning over, the forecast "
                  f"daily VN_AQI of the next {rule.within_h} h is below {rule.aqi_at_least}")
        else:
            vi = (f"{fc.station}: Dự báo (không phải số đo): VN_AQI ngày {st['day']} khoảng "
                  f"{st['aqi']} ({st['lo']}–{st['hi']}), ≥ {rule.aqi_at_least} với {who[0]}, "
                  f"còn {st['lead_h']} giờ; độ tin cậy {st['confidence']}. "
                  f"{aqi_health.sentence(advice, 'vi')}")
            en = (f"{fc.station}: Forecast (not a measurement): daily VN_AQI on {st['day']} "
                  f"about {st['aqi']} ({st['lo']}–{st['hi']}), ≥ {rule.aqi_at_least} for "
                  f"{who[1]}, in {st['lead_h']} h; confidence {st['confidence']}. "
                  f"{aqi_health.sentence(advice, 'en')}")
        note = {"v": 1, "st": fc.station, "rule": rule.id, "state": state, "t": fc.issued,
                "event": event, "id": st["id"], "since": st["since"],
                "severity": rule.severity, "forecast": True, "value": st["aqi"],
                "limit": rule.aqi_at_least, "unit": "VN_AQI", "period": "24h",
                "level": st["band"], "day": st["day"], "lead_h": st["lead_h"],
                "confidence": st["confidence"], "interval": [st["lo"], st["hi"]],
                "group": rule.group, "colour": advice["colour"], "advice": advice,
                "text_vi": vi, "text_en": en, "open": self.open(fc.station)}
        fields: dict[str, float | int | bool | str] = {
            "event": event, "state": state, "id": st["id"], "value": float(st["aqi"]),
            "limit": float(rule.aqi_at_least), "unit": "VN_AQI", "text": vi, "text_en": en,
            "lead_h": int(st["lead_h"]), "confidence": st["confidence"], "forecast": True}
        return Point("alert", {"station": fc.station, "rule": rule.id,
                               "severity": rule.severity}, fields, fc.issued, note)
