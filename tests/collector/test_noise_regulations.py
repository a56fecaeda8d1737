"""QCVN 26:2010/BTNMT and QCVN 26:2025/BNNMT as data (collector/rules/qcvn26_*.json): loaded
with the other rule sets, their limits by kind of area and period of the day, what the
reference did not find marked so, and broken files named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from collector.alerting import regulations as regs
from collector.alerting import rules, time_periods
from collector.domain import noise

OLD, NEW = "QCVN 26:2010/BTNMT", "QCVN 26:2025/BNNMT"


def limits(text: str, area: str, department: Path | None = None) -> dict[str, regs.Applied]:
    rs = rules.load(None, department)
    got, problems = regs.resolve(rs.regulations[text], rs.department, area, None)
    assert problems == []
    return {a.period: a for a in got}


def test_both_noise_regulations_load_with_their_dates_and_succession():
    rs = rules.load()
    old, new = rs.regulations[OLD], rs.regulations[NEW]
    assert (new["effective"], new["transition_end"], new["replaces"]) == \
        ("2025-11-14", "2026-12-31", [OLD])
    assert old["superseded_by"] == NEW
    # the reference gives no effective date for the 2010 text: not made up
    assert old["effective"] == "not found"
    assert "TT 01/2025/TT-BNNMT" in new["source"] and "TT 39/2010/TT-BTNMT" in old["source"]


@pytest.mark.parametrize("area, day, night", [("special", 55, 45), ("normal", 70, 55)])
def test_qcvn_26_2010_limits_by_kind_of_area(area, day, night):
    got = limits(OLD, area)
    assert {p: (a.param, a.unit, a.max, a.confidence, a.status) for p, a in got.items()} == {
        "day": ("laeq", "dBA", day, "B", "in force"),
        "night": ("laeq", "dBA", night, "B", "in force")}


@pytest.mark.parametrize("area, values", [("A", (50, 45, 40)), ("C", (60, 55, 50)),
                                          ("E", (70, 65, 60))])
def test_qcvn_26_2025_limits_by_area_and_its_three_periods(area, values):
    got = limits(NEW, area)
    assert [(p, a.max, a.confidence) for p, a in got.items()] == [
        (p, v, "C") for p, v in zip(("day", "evening", "night"), values, strict=True)]


def test_qcvn_26_2010_periods_place_each_hour():
    doc = rules.load().regulations[OLD]
    periods = time_periods.periods(doc)
    assert [noise.period_of(h, periods) for h in (5, 6, 20, 21)] == \
        ["night", "day", "day", "night"]


def test_qcvn_26_2025_clock_hours_and_areas_are_marked_not_found_and_never_guessed():
    doc = rules.load().regulations[NEW]
    assert all(p["from_hour"] == p["to_hour"] == "not found" for p in doc["time_periods"])
    assert all(a["confidence"] == "not found" for a in doc["areas"].values())
    with pytest.raises(noise.NoiseError, match="not found"):
        noise.period_of(22, time_periods.periods(doc))


def test_qcvn_26_2025_duration_allowances_as_data():
    rows = rules.load().regulations[NEW]["duration_adjustments"]["rows"]
    assert [(r["up_to_h"]["day"], r["up_to_h"]["evening"], r["up_to_h"]["night"], r["add_dba"])
            for r in rows] == [(1, 0.5, 0.25, 15), (2, 1, 0.5, 10), (4, 2, 1, 5),
                               (6, 3, 1.5, 3)]


def test_a_department_enters_an_official_evening_limit(tmp_path):
    dept = tmp_path / "regulations.json"
    dept.write_text(json.dumps({"regulations": {NEW: {"limits": [
        {"param": "laeq", "period": "evening", "unit": "dBA", "confidence": "A",
         "source": "QCVN 26:2025/BNNMT Bảng 1 (signed text)", "max": {"C": 54}}]}}}))
    got = limits(NEW, "C", dept)
    assert (got["evening"].max, got["evening"].status) == (54, "department")
    assert (got["day"].max, got["day"].status) == (60, "in force")


def test_a_department_limit_for_a_period_the_regulation_lacks_is_named(tmp_path):
    dept = tmp_path / "regulations.json"
    dept.write_text(json.dumps({"regulations": {NEW: {"limits": [
        {"param": "laeq", "period": "1h", "unit": "dBA", "confidence": "A",
         "source": "x", "max": {"C": 54}}]}}}))
    with pytest.raises(rules.RulesError, match="period: '1h' is not one of day, evening, "
                                               "night"):
        rules.load(None, dept)


def _set(d: dict, path: tuple, value: object) -> None:
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


@pytest.mark.parametrize("file, path, value, says", [
    ("qcvn26_2010.json", ("limits", 0, "period"), "afternoon",
     "limits[0].period: 'afternoon' is not one of day, night"),
    ("qcvn26_2010.json", ("time_periods", 0, "from_hour"), 25,
     "time_periods[0].from_hour: 25 is not a whole hour 0..23 or 'not found'"),
    ("qcvn26_2010.json", ("time_periods", 0, "to_hour"), 22,
     "time_periods: hour 21 falls in 2 periods"),
    ("qcvn26_2010.json", ("time_periods", 1, "name"), "day", "'day' appears twice"),
    ("qcvn26_2025.json", ("time_periods", 2, "confidence"), "sure",
     "time_periods[2].confidence: 'sure' is not one of"),
    ("qcvn26_2025.json", ("limits", 1, "max", "B"), "fifty",
     "limits[1].max.B: 'fifty' is not a number or 'not found'"),
    ("qcvn26_2025.json", ("duration_adjustments", "rows", 1, "up_to_h", "night"), 0.2,
     "rows[1].up_to_h.night: 0.2 is not a duration in hours above the previous row's"),
    ("qcvn26_2025.json", ("duration_adjustments", "rows", 0, "up_to_h"), {"day": 1},
     "rows[0].up_to_h: must give every period (day, evening, night)"),
    ("qcvn26_2025.json", ("areas", "A"), {"confidence": "C"}, "areas.A: needs vi and en"),
])
def test_a_broken_noise_rules_file_is_named(tmp_path, file, path, value, says):
    folder = tmp_path / "rules"
    shutil.copytree(rules.RULES_DIR, folder)
    doc = json.loads((folder / file).read_text())
    _set(doc, path, value)
    (folder / file).write_text(json.dumps(doc))
    with pytest.raises(rules.RulesError) as err:
        rules.load(folder)
    assert says in str(err.value) and file in str(err.value)
