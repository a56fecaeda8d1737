"""Validation golden cases (tests/collector/cases/validate/<name>/) and the processor using them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from collector.contracts import Batch, Envelope
from collector.processors.validate.plugin import Invalid, ValidateProcessor, validate

CASES = Path(__file__).parent / "cases" / "validate"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


def load(name: str) -> tuple[Envelope, dict]:
    d = CASES / name
    case = json.loads((d / "case.json").read_text())
    env = Envelope(case["topic"], (d / "message").read_bytes(), case["received_at"], token=name)
    return env, json.loads((d / "expected.json").read_text())


def test_the_case_set_covers_every_kind_of_bad_input():
    classes = {load(n)[1].get("rejected", {}).get("class") for n in NAMES}
    assert {"encoding", "json", "schema", "nonfinite", "unknown_station", "mismatch",
            "unknown_param", "unit", "future"} <= classes
    assert sum("readings" in load(n)[1] for n in NAMES) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_golden_case(name):
    env, expected = load(name)
    if "readings" in expected:
        readings = validate(env)
        assert [dataclasses.asdict(r) for r in readings] == expected["readings"]
        assert all(isinstance(r.value, float) for r in readings if r.value is not None)
        ints = ("time", "status", "n", "flags", "seq")  # ints even when sent as 42.0
        assert all(type(getattr(r, f)) is int for r in readings for f in ints)
        assert all(isinstance(x, float) for r in readings for x in (r.min, r.max) if x is not None)
        return
    want = expected["rejected"]
    with pytest.raises(Invalid) as err:
        validate(env)
    assert err.value.cls == want["class"]
    if "reason" in want:
        assert err.value.reason == want["reason"]
    for part in want.get("reason_has", []):
        assert part in err.value.reason


def test_unknown_and_mismatched_stations_are_told_apart():
    unknown = load("unknown-station-in-payload")[0]
    mismatch = load("station-mismatch")[0]
    kinds = set()
    for env in (unknown, mismatch):
        with pytest.raises(Invalid) as err:
            validate(env)
        kinds.add(err.value.cls)
    assert kinds == {"unknown_station", "mismatch"}


def test_future_limit_is_the_configured_one():
    env, _ = load("time-in-future")  # one hour ahead of its receive time
    assert validate(env, max_future_s=7200)[0].param == "so2"
    with pytest.raises(Invalid, match="limit 600 s"):
        validate(env, max_future_s=600)


def test_processor_keeps_good_messages_and_refuses_bad_ones_whole():
    good, _ = load("good-air")
    tap, _ = load("good-tap-backlog")
    half_bad, _ = load("second-record-bad")  # r[0] is fine, r[1] is not: nothing of it stored
    nan, _ = load("nan-value")
    status = Envelope("quantrac/v1/pq-air-01/status", b'{"v":1,"st":"pq-air-01","online":true}',
                      1763755500.0, "status")
    batch = ValidateProcessor().process(Batch([good, half_bad, status, tap, nan]))
    assert [r.station for r in batch.readings] == ["pq-air-01"] * 3 + ["pq-tap-01"] * 4
    assert [(r.envelope.token, r.cls) for r in batch.rejected] == [
        ("second-record-bad", "unit"), ("nan-value", "nonfinite")]


def test_processor_refuses_a_topic_that_is_not_a_station_data_topic():
    env = Envelope("quantrac/v1/alerts/pq-air-01", b"{}", 1763755500.0)
    batch = ValidateProcessor().process(Batch([env]))
    assert batch.readings == []
    assert batch.rejected[0].cls == "topic"
    assert "quantrac/v1/alerts/pq-air-01" in batch.rejected[0].reason
