"""QC of the sound channels (limits.json): a live street passes; a value out of any sound
meter's range fails; a stuck transmitter and a microphone that reads its floor are flagged."""

from __future__ import annotations

import random

from collector.contracts import QC_FAIL, QC_GOOD, QC_SUSPECT
from collector.processors.qc import checks as c
from collector.processors.qc import limits
from collector.processors.qc.checks import Limits, evaluate

T0 = 1763755200
DOC = limits.load()


def lim(param: str) -> Limits:
    return Limits(sensor=(30.0, 130.0), **{**DOC["defaults"], **DOC["params"][param]})


def run(values: list[float], param: str = "laeq", step: int = 300) -> list[tuple[int, int]]:
    """(flag, bits) of each 5-minute record, as the QC stage feeds the tests."""
    history, flat, out = [], None, []
    for i, x in enumerate(values):
        t = T0 + step * i
        flag, bits, flat = evaluate(x, x, 0, 0, t, history, flat, lim(param))[:3]
        out.append((flag, bits))
        if not bits & c.FAILING:
            history.append((t, x))
    return out


def test_a_street_and_a_quiet_night_pass():
    rnd = random.Random(3)
    street = [round(rnd.uniform(58, 78), 1) for _ in range(48)]
    night = [round(rnd.uniform(38, 44), 1) for _ in range(48)]
    for param in ("laeq", "lamax", "lamin"):
        assert {f for f, _ in run(street, param)} == {QC_GOOD}
    assert {f for f, _ in run(night)} == {QC_GOOD}


def test_a_level_no_sound_meter_reads_fails():
    assert run([150.0])[0][0] == QC_FAIL
    assert run([12.0])[0][1] & c.GROSS_RANGE


def test_a_stuck_level_is_suspect_after_half_an_hour_and_fails_after_two_hours():
    flags = [f for f, _ in run([62.3] * 25)]
    assert flags[:6] == [QC_GOOD] * 6  # 25 minutes unchanged: a street can do that
    assert flags[6] == QC_SUSPECT and flags[24] == QC_FAIL
    assert run([62.3] * 25)[24][1] & c.FLATLINE


def test_a_microphone_reading_its_floor_is_suspect_at_once_and_fails_when_it_stays():
    floor = run([31.0] * 25)
    assert floor[0] == (QC_SUSPECT, c.CLIMATOLOGY)  # below any 5 minutes of an outdoor street
    assert floor[24][0] == QC_FAIL and floor[24][1] & c.FLATLINE
