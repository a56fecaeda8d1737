"""The alert engine's semantics, as golden cases in cases/alerts/<name>.json: a rule, mute
windows and a series of observations in, the transitions out (event, time and, where it
matters, which limit). Plus the state round trip and mute parsing."""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone
from pathlib import Path

import pytest

from collector.alerting.engine import Alerts, Mute, Observation, Rule, State, parse_mute, step

CASES = sorted((Path(__file__).parent / "cases" / "alerts").glob("*.json"))
STATION = "pq-air-01"


def rule_of(spec: dict) -> Rule:
    spec = dict(spec)
    spec["steps"] = tuple(tuple(s) for s in spec.get("steps", ()))
    return Rule(**spec)


def run_case(case: dict) -> list:
    rule = rule_of(case["rule"])
    alerts = Alerts(tuple(Mute(*m) for m in case.get("mutes", [])))
    out = []
    for o in case["observations"]:
        level = o[3] if len(o) > 3 else None
        tr = alerts.observe(STATION, rule, Observation(o[0], o[1], o[2], level))
        if tr is not None:
            out.append(tr)
    return out


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_golden_case(path):
    case = json.loads(path.read_text())
    got = run_case(case)
    want = case["expected"]
    assert [(t.event, t.t) for t in got] == [(w[0], w[1]) for w in want], case["about"]
    for t, w in zip(got, want, strict=True):
        if len(w) > 2:
            assert (t.side, t.limit) == (w[2], w[3]), case["about"]
    # one open alert at a time: every update and close carries the id of the open before it
    current = None
    for t in got:
        if t.event == "open":
            assert current is None, "a second alert opened while one was open"
            current = t.id
        else:
            assert t.id == current
            current = None if t.event == "close" else current


def test_there_are_golden_cases():
    assert len(CASES) >= 10


def test_a_new_alert_after_recovery_gets_a_new_id():
    got = run_case(json.loads((CASES[0].parent / "recovery_then_a_new_alert.json").read_text()))
    assert got[0].id != got[2].id and got[0].id == got[1].id
    assert got[0].id == f"{STATION}/qcvn05.so2.1h/{got[0].t}"


def test_state_survives_a_round_trip_through_json():
    rule = Rule("r", "mean", above=10, pending_s=3600)
    a = Alerts()
    a.observe(STATION, rule, Observation(1_763_755_200, 20))
    b = Alerts()
    b.restore(json.loads(json.dumps(a.state())))
    assert b.states == a.states and b.states[(STATION, "r")].status == "pending"
    tr = b.observe(STATION, rule, Observation(1_763_758_800, 20))
    assert tr is not None and tr.event == "open" and tr.since == 1_763_755_200
    assert list(b.open_at(STATION)) == ["r"]


def test_a_saved_state_with_an_unknown_status_is_refused():
    with pytest.raises(ValueError, match="status 'maybe'"):
        State.from_json({"status": "maybe"})


def test_an_observation_without_breach_in_ok_state_changes_nothing_but_time():
    state, tr = step(Rule("r", "mean", above=10), STATION, State(), Observation(100, 5))
    assert tr is None and state == State(t=100)


def test_mute_windows_parse_local_time_and_offsets():
    vn = timezone(timedelta(hours=7))
    m = parse_mute("pq-air-0[1-3] qcvn05.* 2026-03-02T08:00 2026-03-02T12:00", vn)
    assert (m.start, m.end - m.start) == (1772413200, 4 * 3600)
    assert m.covers("pq-air-02", "qcvn05.so2.1h", m.start)
    assert not m.covers("pq-air-04", "qcvn05.so2.1h", m.start)
    assert not m.covers("pq-air-02", "offline", m.start)
    assert not m.covers("pq-air-02", "qcvn05.so2.1h", m.end)
    utc = parse_mute("* * 2026-03-02T01:00+00:00 2026-03-02T05:00Z", vn)
    assert utc.start == m.start
    assert parse_mute("* * 2026-03-02T01:00 2026-03-02T05:00", UTC).start == m.start


@pytest.mark.parametrize("text, says", [
    ("pq-air-01 * 2026-03-02T08:00", "expected '<station> <rule> <start> <end>'"),
    ("* * yesterday 2026-03-02T12:00", "start 'yesterday' is not an ISO 8601 time"),
    ("* * 2026-03-02T12:00 2026-03-02T08:00", "end is not after start"),
])
def test_bad_mute_windows_are_named(text, says):
    with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("*", r"\*")):
        parse_mute(text, UTC)
