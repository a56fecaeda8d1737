"""`quantrac rules show STATION`, the department's regulations.json in the run folder, and the
transition-end warning `station build` and `services up` print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from quantrac.cli import main

FALLBACK = "limit from QCVN 14:2008/BTNMT, pending QCVN 14:2025/BTNMT text"
PAST = "QCVN 14:2008/BTNMT is past its transition end 2025-12-31"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_rules_show_lists_each_parameters_limit_rule_and_confidence(run_dir):
    res = run("rules", "show", "pq-ww-01", "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "QCVN 14:2025/BTNMT column B, design flow 5000 m3/day" in lines[0]
    assert "in force since 2025-09-01 (A), transition end 2031-12-31 (C)" in lines[1]
    tss = next(line for line in lines if line.startswith("tss "))
    assert tss.split()[:6] == ["tss", "1h", "<=", "100", "mg/L", "qcvn14_2025.tss.1h"]
    assert tss.split()[6] == "B" and tss.endswith(FALLBACK)
    assert "do: no limit in QCVN 14:2025/BTNMT" in lines
    doc = json.loads(run("rules", "show", "pq-ww-01", "--json", "--run-dir", run_dir).output)
    # every parameter the rule set limits is either listed with its limit or said unmeasured
    assert {x["param"] for x in doc["limits"]} | set(doc["not_measured"]) == \
        {"ph", "tss", "nh4", "cod"}
    if doc["not_measured"]:
        assert f"not measured here: {', '.join(doc['not_measured'])}" in res.output
    res = run("rules", "show", "pq-tap-02", "--json", "--run-dir", run_dir)
    doc = json.loads(res.output)
    by = {x["param"]: x for x in doc["limits"]}
    assert (doc["kind"], doc["regulation"], doc["column"]) == \
        ("surface_water", "QCVN 08:2023/BTNMT", "A")
    assert (by["nh4"]["max"], by["nh4"]["confidence"], by["nh4"]["status"]) == \
        (0.3, "A", "in force")
    assert (by["do"]["min"], by["do"]["status"], by["do"]["source"]) == \
        (6, "fallback", "QCVN 08-MT:2015/BTNMT")
    assert doc["warnings"] == [] and doc["department_file"] is None
    tap = json.loads(run("rules", "show", "pq-tap-01", "--json", "--run-dir", run_dir).output)
    assert tap["rule_set"]["effective_confidence"] == "C"  # the sources disagree: it says so
    assert any("2025-07-01 (aquaco.vn) or 2025-01-01" in n for n in tap["rule_set"]["notes"])


def test_official_numbers_in_the_run_folders_regulations_json_apply_without_a_release(run_dir):
    (run_dir / "regulations.json").write_text(json.dumps({"regulations": {
        "QCVN 14:2025/BTNMT": {"limits": [
            {"param": "tss", "period": "1h", "unit": "mg/L", "max": {"B": 60},
             "confidence": "A", "source": "TT 05/2025/TT-BTNMT Bảng 1"}]}}}))
    doc = json.loads(run("rules", "show", "pq-ww-01", "--json", "--run-dir", run_dir).output)
    tss = next(x for x in doc["limits"] if x["param"] == "tss")
    assert (tss["max"], tss["status"], tss["confidence"], tss["label"]) == \
        (60, "department", "A", "")
    assert doc["department_file"] == str(run_dir / "regulations.json")


def test_a_broken_regulations_json_is_a_clear_error(run_dir):
    (run_dir / "regulations.json").write_text(json.dumps({"regulations": {
        "QCVN 14:2025/BTNMT": {"limits": [
            {"param": "tss", "period": "1h", "unit": "mg/L", "max": "sixty",
             "confidence": "A", "source": "x"}]}}}))
    res = run("rules", "show", "pq-ww-01", "--run-dir", run_dir)
    assert res.exit_code == 1
    assert f"{run_dir / 'regulations.json'}: regulations.QCVN 14:2025/BTNMT.limits[0].max: " \
           "'sixty' is not a number" in res.output


def on_old_rules(registry: Path, run_dir: Path) -> None:
    """pq-ww-01 still on QCVN 14:2008, and a department that read the transition end in the
    signed circular as 2025-12-31."""
    doc = json.loads(registry.read_text())
    for s in doc["stations"]:
        if s["id"] == "pq-ww-01":
            s["regulation"] = "QCVN 14:2008/BTNMT"
    registry.write_text(json.dumps(doc, ensure_ascii=False))
    (run_dir / "regulations.json").write_text(json.dumps({"regulations": {
        "QCVN 14:2025/BTNMT": {"transition_end": "2025-12-31"}}}))


def test_station_build_warns_about_a_rule_set_past_its_transition_end(run_dir, registry_copy,
                                                                      firmware_build):
    on_old_rules(registry_copy, run_dir)
    res = run("station", "build", "pq-ww-01", "--config-only", "--build-root", firmware_build,
              "--registry", registry_copy, "--run-dir", run_dir, "--mqtt-host", "10.0.0.2",
              "--mqtt-port", 1883)
    assert res.exit_code == 0, res.output
    assert f"warning: station pq-ww-01: {PAST}" in res.stderr
    ok = run("station", "build", "pq-ww-02", "--config-only", "--build-root", firmware_build,
             "--registry", registry_copy, "--run-dir", run_dir, "--mqtt-host", "10.0.0.2",
             "--mqtt-port", 1883)
    assert ok.exit_code == 0 and "warning" not in ok.stderr


def test_station_build_names_a_broken_regulations_json_but_still_builds(run_dir,
                                                                       firmware_build):
    (run_dir / "regulations.json").write_text("{not json")
    res = run("station", "build", "pq-ww-02", "--config-only", "--build-root", firmware_build,
              "--run-dir", run_dir, "--mqtt-host", "10.0.0.2", "--mqtt-port", 1883)
    assert res.exit_code == 0, res.output
    assert f"warning: regulations: {run_dir / 'regulations.json'}: not JSON" in res.stderr


@pytest.mark.services
def test_services_up_warns_about_a_rule_set_past_its_transition_end(stack, run_dir,
                                                                    registry_copy):
    res = run("services", "up", "--run-dir", run_dir)
    assert res.exit_code == 0 and "warning" not in res.stderr, res.output
    on_old_rules(registry_copy, run_dir)
    # the copy's stations get accounts here, so `services up` answers for them too
    assert run("station", "credentials", "pq-ww-01", "--registry", registry_copy,
               "--run-dir", run_dir).exit_code == 0
    res = run("services", "up", "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    assert f"warning: station pq-ww-01: {PAST}" in res.stderr


def test_rules_show_lists_a_second_probe_under_its_own_rule(run_dir, edited):
    """A second pH probe (boards/param_names.py) is judged by the pH limit: listed with the
    rule its alerts carry, not as a parameter without a limit."""
    edited("profiles/raw-water", lambda p: p["sensors"].append(
        {"id": "ph2", "model": "qt-ph-485", "uart": "rs485", "address": 9,
         "params": {"ph": "ph_2", "temp": "temp_2"}}))
    doc = json.loads(run("rules", "show", "pq-tap-02", "--json", "--run-dir", run_dir).output)
    by = {x["param"]: x for x in doc["limits"]}
    assert by["ph_2"]["rule"] == "qcvn08_2023.ph_2.1h" and by["ph"]["rule"] == "qcvn08_2023.ph.1h"
    assert (by["ph_2"]["min"], by["ph_2"]["max"]) == (by["ph"]["min"], by["ph"]["max"])
    assert "ph_2" not in doc["no_limit"] and "temp_2" in doc["no_limit"]


def test_rules_show_names_a_noise_stations_regulations_and_when_each_applies(run_dir):
    res = run("rules", "show", "pq-air-02", "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    assert "noise: QCVN 26:2010/BTNMT, area normal, until 2026-12-31" in res.output
    assert "  laeq  night (21–6 h)  <= 55 dBA  qcvn26_2010.laeq.night  B" in res.output
    assert "noise: QCVN 26:2025/BNNMT, area not found, from 2027-01-01 (clock hours: not " \
           "found)" in res.output
    assert "nothing judged: the periods' clock hours are not found" in res.output
    assert "laeq: no limit" not in res.output
    doc = json.loads(run("rules", "show", "pq-air-02", "--json", "--run-dir", run_dir).output)
    (old, new) = doc["noise"]
    assert (old["until"], old["judged"], new["from"], new["judged"]) == \
        ("2026-12-31", True, "2027-01-01", False)
    assert [x["from_hour"] for x in new["limits"]] == [None, None, None]
    assert json.loads(run("rules", "show", "pq-air-05", "--json", "--run-dir",
                          run_dir).output)["noise"] == []
