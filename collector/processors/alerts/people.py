"""The alerts stage's people side: what the desk (collector/alerting/desk.py) says, as points.

- a transition about a time in a station's silence, or judged while one lasts, is marked
  (`silenced` in its payload and fields): stored, retained, but no person-facing output sends
  it, and it never escalates;
- a transition of an alert that follows the contact chain carries `to` (the contacts of the
  levels it reached, per channel) and `escalation` (its level), which the outputs add to their
  own recipients;
- an acknowledgement is an `alert` point of its own (event `ack`: who, when, the note), an
  escalation too (event `escalate`: the new level; `to` only that level's contacts);
- a silence (an operator's, or the station's calibration mode) is a `maintenance` point: the
  window that marks the station's data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from collector.alerting.desk import Answer, AnswerError, Desk, Silence, local_time
from collector.alerting.messages import MEASUREMENT
from collector.contracts import Point

log = logging.getLogger("quantrac.collector.alerts")
MAINTENANCE = "maintenance"


def silenced_doc(s: Silence) -> dict[str, Any]:
    return {"reason": s.reason, "by": s.by, "source": s.source, "from": s.start,
            **({"until": s.until} if s.until else {})}


def decorate(desk: Desk, p: Point, now: float) -> Point:
    """A transition's point, marked for the people side (see the module's docstring)."""
    doc = p.note or {}
    aid, event = str(doc.get("id", "")), doc.get("event")
    # the data it judges was taken in a window (a backlog of a calibration hour), or it is
    # judged while one lasts (a station offline during planned works)
    s = desk.silence_at(p.station, p.time) or desk.silence_at(p.station, now)
    if s is not None:
        doc["silenced"] = silenced_doc(s)
        p.fields["silenced"] = s.source
    if event == "open":
        if desk.opened(aid, doc, now, s is not None):
            doc["escalation"] = {"level": 1}
            doc["to"] = desk.chain.to(1)
    else:
        desk.updated(aid, doc, now)
        reached = desk.reached(aid)
        if reached:
            doc["escalation"] = {"level": max(reached)}
            doc["to"] = desk.chain.to(*reached)
    ack = desk.alerts.get(aid, {}).get("ack")
    if ack is not None:
        doc["ack"] = ack
    _ack_fields(p.fields, ack)
    annotate_open(desk, doc)
    return p


def _ack_fields(fields: dict[str, Any], ack: dict[str, Any] | None) -> None:
    """Who acknowledged the alert, on each of its points ("" nobody yet): a dashboard's
    last() per station and rule is then this alert's answer, not an earlier alert's."""
    fields["ack_by"] = str((ack or {}).get("by", ""))
    fields["ack_note"] = str((ack or {}).get("note", ""))


def annotate_open(desk: Desk, doc: dict[str, Any]) -> None:
    """Each alert still open, with its acknowledgement and level: the retained message is the
    station's whole state, so `quantrac alerts list` and a dashboard read it from there."""
    for entry in doc.get("open", []):
        a = desk.alerts.get(str(entry.get("id")))
        if a is None:
            continue
        if "ack" in a:
            entry["ack"] = a["ack"]
        if a.get("follows"):
            entry["level"] = a["level"]


def _alert_point(doc: dict[str, Any], t: int, extra: dict[str, Any]) -> Point:
    fields: dict[str, float | int | bool | str] = {
        "state": str(doc.get("state", "open")), "event": str(doc["event"]),
        "unit": str(doc.get("unit", "")), "text": str(doc.get("text_vi", "")),
        "text_en": str(doc.get("text_en", "")), "id": str(doc.get("id", ""))}
    if isinstance(doc.get("value"), int | float):
        fields["value"] = float(doc["value"])
    _ack_fields(fields, doc.get("ack"))
    fields.update(extra)
    tags = {"station": str(doc.get("st", "")), "rule": str(doc.get("rule", "")),
            "severity": str(doc.get("severity", "warning"))}
    return Point(MEASUREMENT, tags, fields, t, note=doc)


OpenOf = Callable[[str], list[dict[str, Any]]]  # station → its open alerts (payload `open`)


def ack(desk: Desk, a: Answer, now: float, tz: tzinfo, open_of: OpenOf) -> list[Point]:
    """The acknowledgement as an `ack` point; AnswerError when the desk refuses it."""
    alert = desk.ack(a, now)
    base = alert["doc"]
    note = f": {a.note}" if a.note else ""
    # at the answer's own time: the same answer redelivered overwrites its point
    doc = {**base, "event": "ack", "t": a.t, "ack": alert["ack"],
           "text_vi": f"{a.by} đã xác nhận lúc {local_time(a.t, tz)}{note}. "
                      f"{base.get('text_vi', '')}",
           "text_en": f"Acknowledged by {a.by} at {local_time(a.t, tz)}{note}. "
                      f"{base.get('text_en', '')}",
           "open": open_of(a.station)}
    doc.pop("silenced", None)
    reached = desk.reached(a.alert)
    doc.pop("to", None)
    if reached:  # whoever was called hears that someone has it in hand
        doc["to"] = desk.chain.to(*reached)
    annotate_open(desk, doc)
    log.info("alert %s acknowledged by %s: %s", a.alert, a.by, a.note)
    return [_alert_point(doc, a.t, {"ack_by": a.by, "ack_note": a.note, "ack_t": a.t})]


def escalations(desk: Desk, now: float, open_of: OpenOf) -> list[Point]:
    out = []
    after = desk.chain.after_s
    wait_vi = f"{after:g} giây" if after < 60 else f"{round(after / 60, 1):g} phút"
    wait_en = f"{after:g} s" if after < 60 else f"{round(after / 60, 1):g} min"
    for aid, alert, level in desk.due(now):
        base = alert["doc"]
        if desk.silence_at(str(base.get("st")), now) is not None:
            continue  # maintenance began after it opened: nobody is called about it
        doc = {**base, "event": "escalate", "t": int(now), "escalation": {
            "level": level, "after_s": desk.chain.after_s}, "to": desk.chain.to(level),
            "text_vi": f"Chuyển cấp {level}: chưa ai xác nhận sau {wait_vi}. "
                       f"{base.get('text_vi', '')}",
            "text_en": f"Escalated to level {level}: not acknowledged within {wait_en}. "
                       f"{base.get('text_en', '')}",
            "open": open_of(str(base.get("st")))}
        annotate_open(desk, doc)
        log.warning("alert %s escalated to level %d", aid, level)
        out.append(_alert_point(doc, int(now), {"level": level}))
    return out


def maintenance(station: str, s: Silence) -> Point:
    """The window that marks a station's data (its start; `until` 0 while it lasts)."""
    fields: dict[str, float | int | bool | str] = {
        "until": int(s.until), "reason": s.reason, "by": s.by}
    return Point(MAINTENANCE, {"station": station, "source": s.source}, fields, int(s.start))


__all__ = ["AnswerError", "MAINTENANCE", "ack", "decorate", "escalations", "maintenance"]
