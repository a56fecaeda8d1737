"""Transitions → what people and machines receive: texts in Vietnamese and English, the
protocol-v1 `alert` payload (retained on quantrac/v1/alerts/<station>, sent to webhooks and by
e-mail) and the InfluxDB `alert` point (Grafana annotations). Pure functions."""

from __future__ import annotations

from typing import Any

from boards.param_names import label
from collector.alerting.engine import State, Transition
from collector.contracts import Point
from collector.domain import aqi, aqi_health

MEASUREMENT = "alert"
STATE = {"open": "open", "update": "open", "close": "closed"}


def number(x: float | None) -> str:
    """A value as people read it: 524.1, 6.85, 0.12, 10000."""
    if x is None:
        return "?"
    text = f"{x:.1f}" if abs(x) >= 100 else f"{x:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def bound(lo: float | None, hi: float | None, missing: str) -> str:
    """A limit as people read it: "6.5 – 8.5", "<= 50", ">= 5", or `missing`."""
    if lo is not None and hi is not None:
        return f"{number(lo)} – {number(hi)}"
    if hi is not None:
        return f"<= {number(hi)}"
    if lo is not None:
        return f">= {number(lo)}"
    return missing


def _level(key: str | None, lang: str) -> str:
    for b in aqi.default_table().bands:
        if b.key == key:
            return b.vi if lang == "vi" else b.en
    return key or ""


def texts(tr: Transition, names: dict[str, Any]) -> dict[str, str]:
    """{"vi": …, "en": …} for a transition. `names`: station → display name, and the rule
    set's `names` (parameters), `units` and `periods` under those keys."""
    rule = tr.rule
    group = f"limit_{tr.side or 'above'}" if rule.signal == "mean" else rule.signal
    event = "close" if tr.event == "close" else tr.event
    templates = rule.texts.get(group, {})
    chosen = templates.get(event) or templates.get("open", {})
    out = {}
    for lang in ("vi", "en"):
        values = {
            "station": tr.station, "name": names.get("stations", {}).get(tr.station, tr.station),
            # a second probe's channel says which probe: "T (do probe)"
            "param": label(rule.param, names.get("params", {}), lang),
            "period": names.get("periods", {}).get(rule.period, {}).get(lang, rule.period),
            "value": number(tr.value), "limit": number(tr.limit),
            "unit": names.get("units", {}).get(rule.unit, rule.unit),
            "regulation": rule.basis.get(lang, rule.regulation), "level": _level(tr.level, lang)}
        try:
            out[lang] = chosen.get(lang, "").format_map(values)
            if tr.correction is not None:
                out[lang] += ". " + _correction(rule.texts, tr.correction, values, lang)
            if (advice := _advice(tr)) is not None:  # every published AQI says what it means
                out[lang] += ". " + aqi_health.sentence(advice, lang)
        except (KeyError, ValueError, IndexError) as e:  # a province's template with a typo
            out[lang] = f"{tr.station} {rule.id} {tr.event} {values['value']} ({e!r} in text)"
    return out


def _advice(tr: Transition) -> dict[str, Any] | None:
    """The AQI band's colour and messages (Decision 1459) for an AQI rule's transition."""
    if tr.rule.signal != "aqi" or tr.level is None:
        return None
    try:
        return aqi_health.of_band(tr.level)
    except ValueError:
        return None


def _correction(templates: dict[str, Any], c: dict[str, Any], values: dict[str, str],
                lang: str) -> str:
    """Why a day's judgement changed: said in the alert itself, so nobody reads a late
    alert about a finished day as a new exceedance of today."""
    text = templates.get("correction", {}).get(lang, "")
    return text.format_map({**values, "day": c["day"], "revision": c["revision"],
                            "previous": number(c.get("previous"))})


def payload(tr: Transition, text: dict[str, str], open_now: dict[str, State]) -> dict[str, Any]:
    """The protocol-v1 `alert` message; `open` lists the station's alerts open after it."""
    rule = tr.rule
    doc: dict[str, Any] = {
        "v": 1, "st": tr.station, "rule": rule.id, "state": STATE[tr.event], "t": tr.t,
        "event": tr.event, "id": tr.id, "since": tr.since, "severity": rule.severity,
        "value": float(tr.value), "unit": rule.unit, "text_vi": text["vi"],
        "text_en": text["en"]}
    if tr.limit is not None:
        doc["limit"] = float(tr.limit)
    if rule.period:
        doc["period"] = rule.period
    if tr.level is not None:
        doc["level"] = tr.level
    if tr.correction is not None:
        doc["correction"] = dict(tr.correction)
    if (advice := _advice(tr)) is not None:
        doc["colour"] = advice["colour"]
        doc["advice"] = advice
    doc["open"] = [{"rule": r, "id": s.id, "since": s.since} for r, s in open_now.items()]
    return doc


def point(tr: Transition, text: dict[str, str], doc: dict[str, Any]) -> Point:
    """The `alert` point, carrying the payload (`note`) for the MQTT and notify sinks."""
    rule = tr.rule
    fields: dict[str, float | int | bool | str] = {
        "state": STATE[tr.event], "event": tr.event, "value": float(tr.value),
        "unit": rule.unit, "text": text["vi"], "text_en": text["en"], "id": tr.id}
    if tr.limit is not None:
        fields["limit"] = float(tr.limit)
    if (colour := doc.get("colour")) is not None:
        fields["colour"] = colour
    if tr.correction is not None:
        fields["correction"] = tr.correction["reason"]
        fields["revision"] = int(tr.correction["revision"])
        if tr.correction.get("previous") is not None:
            fields["previous"] = float(tr.correction["previous"])
    tags = {"station": tr.station, "rule": rule.id, "severity": rule.severity}
    return Point(MEASUREMENT, tags, fields, tr.t, note=doc)
