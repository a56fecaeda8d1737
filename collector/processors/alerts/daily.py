"""24 h rules: whole local days judged once over (`collector/alerting/days.py` says when),
judged again with the reason when a late record changes them; each judgement a `daily_limit`
point, each alert transition it causes an engine transition like any other.

A day's judgement goes through the engine like an hourly mean's (pending period, hysteresis,
mutes, one open alert per rule) when it is the rule's newest judged day or a later one. A
correction of an older day (a later day already judged) cannot replay that history: when it
lifts the older day above the limit while no alert is open, that day's alert opens (with the
correction noted) and stays open until the next day judged within the limit closes it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo
from typing import Any

from collector.alerting.days import DayBook, Due
from collector.alerting.engine import Alerts, Observation, Rule, State, Transition, breach, step
from collector.contracts import Point

MEASUREMENT = "daily_limit"
PERIOD = "24h"


def verdict(rule: Rule, due: Due) -> str:
    """above | below | within | incomplete: what the day's whole mean says."""
    if due.value is None or not due.complete:
        return "incomplete"
    hit = breach(rule, due.value, due.end - 1)
    return "within" if hit is None else hit[0]


def local_day(end: int, tz: tzinfo) -> str:
    """The local date of the day ending at `end` (its last second)."""
    return datetime.fromtimestamp(end - 1, tz).date().isoformat()


def point(rule: Rule, due: Due, tz: tzinfo) -> Point:
    """The judgement, at the day's end; a later judgement overwrites it and carries the
    mean it replaced and why."""
    above, below = rule.limits(due.end - 1)
    fields: dict[str, float | int | bool | str] = {
        "verdict": verdict(rule, due), "complete": due.complete, "revision": due.revision,
        "reason": due.reason, "unit": rule.unit, "day": local_day(due.end, tz)}
    if due.value is not None:
        fields["value"] = float(due.value)
    if above is not None:
        fields["limit"] = float(above)
    elif below is not None:
        fields["limit"] = float(below)
    if due.previous is not None:
        fields["previous"] = float(due.previous)
    tags = {"station": due.station, "rule": rule.id, "param": rule.param}
    return Point(MEASUREMENT, tags, fields, due.end)


def judge(alerts: Alerts, rule: Rule, due: Due, tz: tzinfo) -> list[Transition]:
    """The alert transitions this judgement causes (none for an incomplete day)."""
    if due.value is None or not due.complete:
        return []
    correction = None
    if due.revision > 1:
        correction = {"revision": due.revision, "reason": due.reason,
                      "day": local_day(due.end, tz)}
        if due.previous is not None:
            correction["previous"] = float(due.previous)
    key = (due.station, rule.id)
    state = alerts.states.get(key, State())
    obs = Observation(due.end, due.value, True)
    if state.t is None or due.end >= state.t:
        tr = alerts.observe(due.station, rule, obs)
        return [] if tr is None else [replace(tr, correction=correction)]
    # an older day than the newest judged one: see the module's docstring
    if state.status == "open" or alerts.muted(due.station, rule.id, due.end):
        return []
    new, opened = step(rule, due.station, State(), obs)
    if opened is None or opened.event != "open":
        return []
    alerts.states[key] = replace(new, t=state.t)  # newer days stay judged; the next closes it
    return [replace(opened, correction=correction)]


class DailyJudge:
    """The alert stage's part for 24 h rules."""

    def __init__(self, grace_s: int, tz: tzinfo, silence_s: dict[str, int]) -> None:
        self.book = DayBook(int(grace_s))
        self.tz = tz
        self.silence_s = silence_s  # station → silence that makes it "sends nothing"

    def note(self, station: str, rule: Rule, end: int, value: float, complete: bool) -> None:
        self.book.note(station, rule.id, end, value, complete)

    def records(self, station: str, t: int) -> None:
        self.book.records(station, t)

    def due(self, now: float, last_data: dict[str, float], started: float) -> list[Due]:
        silent = {st: now - max(last_data.get(st, 0.0), started) >= self.silence_s.get(st, 900)
                  for st in self.book.clock.keys() | {s for s, _ in self.book.days}}
        return self.book.due(now, silent)

    def state(self) -> dict[str, Any]:
        return self.book.state()

    def restore(self, d: dict[str, Any]) -> None:
        self.book.restore(d)
