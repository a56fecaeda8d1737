"""Regulation rule sets as data: what applies to a station, labelled fallbacks where the
reference found no value, a department's official numbers from one file without a release,
and transition ends."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest

import boards
from collector.alerting import regulations as regs
from collector.alerting import rules
from collector.contracts import Batch, Point
from collector.processors.alerts.plugin import AlertsProcessor

T = 1763755200


def applied(station: str, department: Path | None = None,
            **change) -> dict[str, regs.Applied]:
    st = boards.registry().get(station)
    if change:
        st = dataclasses.replace(st, **change)
    got, _ = rules.applied(rules.load(None, department), st)
    return {f"{a.param}.{a.period}": a for a in got}


def write(path: Path, doc: dict) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


OFFICIAL_TSS = {"regulations": {"QCVN 14:2025/BTNMT": {"limits": [
    {"param": "tss", "period": "1h", "unit": "mg/L", "confidence": "A",
     "source": "TT 05/2025/TT-BTNMT Bảng 1",
     "max": {"B": [{"below_m3d": 2000, "value": 80}, {"value": 60}]}}]}}}


def test_every_rule_set_says_its_source_dates_and_what_it_replaces():
    rs = rules.load()
    now = {"QCVN 08:2023/BTNMT": ("2023-09-12", "QCVN 08-MT:2015/BTNMT"),
           "QCVN 10:2023/BTNMT": ("2023-09-12", "QCVN 10-MT:2015/BTNMT"),
           "QCVN 14:2025/BTNMT": ("2025-09-01", "QCVN 14:2008/BTNMT"),
           "QCVN 40:2025/BTNMT": ("2025-09-01", "QCVN 40:2011/BTNMT"),
           "QCVN 01-1:2024/BYT": ("2025-07-01", "QCVN 01-1:2018/BYT")}
    for text, (since, old) in now.items():
        doc = rs.regulations[text]
        assert doc["effective"] == since and old in doc["replaces"] and doc["source"], text
        assert rs.regulations[old]["superseded_by"] == text if old in rs.regulations else True
    assert rs.regulations["QCVN 14:2025/BTNMT"]["transition_end"] == "2031-12-31"


def test_a_value_the_reference_did_not_find_applies_the_superseded_one_labelled():
    tss = applied("pq-ww-01")["tss.1h"]  # QCVN 14:2025 column B: value not found
    assert (tss.max, tss.status, tss.source, tss.confidence) == \
        (100, "fallback", "QCVN 14:2008/BTNMT", "B")
    assert tss.label == "limit from QCVN 14:2008/BTNMT, pending QCVN 14:2025/BTNMT text"
    nh4 = applied("pq-sea-01")["nh4.1h"]  # QCVN 10:2023 Bảng 2: found
    assert (nh4.max, nh4.status, nh4.source, nh4.label) == \
        (0.1, "in force", "QCVN 10:2023/BTNMT", "")


def test_a_value_with_neither_a_number_nor_a_fallback_is_not_found_and_alerts_nothing():
    st = boards.registry().get("pq-ww-01")
    st = dataclasses.replace(st, regulation="QCVN 40:2025/BTNMT")
    got, warnings = rules.applied(rules.load(), st)
    assert {a.status for a in got} == {"not found"} and warnings == []
    assert all(a.min is None and a.max is None for a in got)
    assert rules.regulation_rules(rules.load(), st, set(st.params()), regs_tz())[0] == []


def regs_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Ho_Chi_Minh")


def test_a_fallback_alert_says_where_its_limit_comes_from():
    stage = AlertsProcessor("phu-quoc")
    mean = Point("mean", {"station": "pq-ww-01", "kind": "wastewater", "param": "tss",
                          "unit": "mg/L", "period": "1h"},
                 {"value": 130.0, "n": 12, "expected": 12, "complete": True}, T)
    (a,) = [p for p in stage.process(Batch([], points=[mean])).points
            if p.measurement == "alert"]
    assert a.tags["rule"] == "qcvn14_2025.tss.1h"
    assert "above the QCVN 14:2008/BTNMT (pending the QCVN 14:2025/BTNMT text) limit of " \
        "100 mg/L" in a.note["text_en"]
    assert "của QCVN 14:2008/BTNMT (tạm áp dụng, chờ văn bản QCVN 14:2025/BTNMT)" in \
        a.note["text_vi"]


def test_the_departments_official_numbers_win_tiered_by_design_flow(tmp_path):
    dept = write(tmp_path / "regulations.json", OFFICIAL_TSS)
    big = applied("pq-ww-01", dept)["tss.1h"]  # 5000 m3/day, column B
    small = applied("pq-ww-01", dept, raw={**boards.registry().get("pq-ww-01").raw,
                                           "design_flow_m3d": 800})["tss.1h"]
    assert (big.max, big.status, big.confidence) == (60, "department", "A")
    assert big.source == "TT 05/2025/TT-BTNMT Bảng 1 (department)" and big.label == ""
    assert small.max == 80
    # column A was not entered: still the labelled fallback
    assert applied("pq-ww-03", dept)["tss.1h"].status == "fallback"
    stage = AlertsProcessor("phu-quoc", department=str(dept))
    mean = Point("mean", {"station": "pq-ww-01", "kind": "wastewater", "param": "tss",
                          "unit": "mg/L", "period": "1h"},
                 {"value": 70.0, "n": 12, "expected": 12, "complete": True}, T)
    (a,) = [p for p in stage.process(Batch([], points=[mean])).points
            if p.measurement == "alert"]
    assert a.note["limit"] == 60 and "pending" not in a.note["text_en"]


def test_a_tiered_limit_without_a_design_flow_is_warned_about(tmp_path):
    dept = write(tmp_path / "regulations.json", OFFICIAL_TSS)
    st = boards.registry().get("pq-ww-01")
    st = dataclasses.replace(st, raw={k: v for k, v in st.raw.items()
                                      if k != "design_flow_m3d"})
    got, warnings = rules.applied(rules.load(None, dept), st)
    assert {a.param: a.status for a in got}["tss"] == "fallback"
    assert warnings == ["station pq-ww-01: QCVN 14:2025/BTNMT tiers tss 1h by design flow: "
                        "the registry gives the station no design_flow_m3d"]


@pytest.mark.parametrize("doc, says", [
    ("{", "not JSON"),
    ({"regulations": {"QCVN 14:2026/BTNMT": {}}},
     "regulations.QCVN 14:2026/BTNMT: no shipped rule set is 'QCVN 14:2026/BTNMT'"),
    ({"regulations": {"QCVN 14:2025/BTNMT": {"limits": [
        {"param": "tss", "period": "1h", "unit": "mg/L", "max": {"B": "fifty"},
         "confidence": "A", "source": "x"}]}}},
     "limits[0].max.B: 'fifty' is not a number or a list of flow tiers"),
    ({"regulations": {"QCVN 14:2025/BTNMT": {"limits": [
        {"param": "tss", "period": "1h", "unit": "mg/L", "max": 50, "confidence": "A"}]}}},
     "limits[0].source: say where the number comes from"),
    ({"regulations": {"QCVN 14:2025/BTNMT": {"limits": [
        {"param": "tss", "period": "1h", "unit": "g/L", "max": 50, "confidence": "A",
         "source": "x"}]}}},
     "limits[0].unit: 'g/L', but QCVN 14:2025/BTNMT gives tss in 'mg/L'"),
    ({"regulations": {"QCVN 14:2025/BTNMT": {"limits": [
        {"param": "tss", "period": "1h", "unit": "mg/L", "confidence": "A", "source": "x",
         "max": [{"below_m3d": 500, "value": 80}, {"below_m3d": 200, "value": 70},
                 {"value": 60}]}]}}},
     "limits[0].max[1].below_m3d: 200 is not a flow (m3/day) above the previous tier's"),
    ({"regulations": {"QCVN 14:2025/BTNMT": {"transition_end": "31/12/2031"}}},
     "transition_end: '31/12/2031' is not a date"),
])
def test_a_broken_department_file_is_refused_naming_the_file_and_key(tmp_path, doc, says):
    path = tmp_path / "regulations.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(rules.RulesError) as err:
        rules.load(None, path)
    assert says in str(err.value) and str(path) in str(err.value)


def test_the_collector_refuses_to_start_on_a_broken_department_file(tmp_path):
    from collector.processors.alerts.options import AlertsOptions, check

    write(tmp_path / "regulations.json", {"regulations": {"QCVN 99": {}}})
    with pytest.raises(ValueError, match="department = '': .*regulations.json.*QCVN 99"):
        check(AlertsOptions(), "phu-quoc", tmp_path)
    check(AlertsOptions(), "phu-quoc", tmp_path / "elsewhere")  # no file: nothing entered


def test_a_station_on_a_rule_set_past_its_transition_end_is_warned_about(tmp_path):
    st = dataclasses.replace(boards.registry().get("pq-ww-01"), regulation="QCVN 14:2008/BTNMT")
    rs = rules.load()
    assert rules.transition_warnings(rs, [st], date(2031, 12, 31)) == []
    assert rules.transition_warnings(rs, [st], date(2032, 1, 1)) == [
        "station pq-ww-01: QCVN 14:2008/BTNMT is past its transition end 2031-12-31: "
        "QCVN 14:2025/BTNMT applies; assign the station to it"]
    # a department corrects the (grade C) transition end: the warning follows
    dept = write(tmp_path / "regulations.json",
                 {"regulations": {"QCVN 14:2025/BTNMT": {"transition_end": "2025-12-31"}}})
    assert "past its transition end 2025-12-31" in \
        rules.transition_warnings(rules.load(None, dept), [st], date(2026, 1, 1))[0]
    # a successor without a known transition end: the permit must say
    sea = dataclasses.replace(boards.registry().get("pq-sea-01"),
                              regulation="QCVN 10-MT:2015/BTNMT")
    (w,) = rules.transition_warnings(rs, [sea], date(2026, 12, 6))
    assert "superseded by QCVN 10:2023/BTNMT" in w and "transition end is not found" in w
    assert rules.transition_warnings(rs, boards.registry().stations, date(2026, 12, 6)) == []


def test_tap_water_turbidity_and_chlorine_carry_the_2018_values_never_the_unverified_2024():
    st = boards.registry().get("pq-tap-01")
    got, _ = rules.applied(rules.load(), st, {"turbidity", "chlorine"})
    by = {a.param: a for a in got}
    assert (by["turbidity"].max, by["turbidity"].unit, by["turbidity"].status) == \
        (2, "NTU", "fallback")
    # 0.1–0.5 is what one doubtful source claims for 2024; it is shown, never applied
    assert (by["chlorine"].min, by["chlorine"].max, by["chlorine"].source) == \
        (0.2, 1.0, "QCVN 01-1:2018/BYT")
    assert by["chlorine"].label == "limit from QCVN 01-1:2018/BYT, pending QCVN 01-1:2024/BYT text"
