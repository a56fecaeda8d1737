"""The issue's acceptance command, `quantrac hil run … --report …`, on the unix-port firmware
over every shipped scenario: at least a dozen, between them every field fault the simulators
can play took effect, and every expected outcome holds.

Scenarios that a module of their own runs and asserts on in detail (OWN) are not run a second
time here: the suite's time goes to new behaviour, not to repeating a five-minute night.
Together with those modules every file in hil/scenarios/ runs once per test session.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hil import faults, scenario
from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]

HERE = Path(__file__).parent
OWN = {  # scenario -> the module that runs it
    "ota-good-update": "test_ota_scenarios.py", "ota-rollback": "test_ota_scenarios.py",
    "ota-tampered": "test_ota_scenarios.py", "ota-rollout": "test_ota_scenarios.py",
    "noise-night-market": "test_noise_scenarios.py",
    "noise-night-market-2025": "test_noise_scenario_2025.py",
    "real-parts-water": "test_real_parts_scenarios.py",
}


def test_the_scenarios_left_out_here_are_run_by_their_own_module():
    shipped = scenario.discover()
    for name, module in OWN.items():
        assert name in shipped, f"{name}: no such scenario any more"
        assert f'"{name}"' in (HERE / module).read_text(), f"{module} does not run {name}"


def test_every_shipped_scenario_passes(services, session_run_dir, tmp_path):
    report = tmp_path / "hil-report.json"
    args = ["hil", "run", "--run-dir", str(session_run_dir), "--report", str(report)]
    for name in sorted(set(scenario.discover()) - set(OWN)):
        args += ["--scenario", name]
    result = CliRunner().invoke(main, args)
    doc = json.loads(report.read_text())
    errors = {s["name"]: s["error"] for s in doc["scenarios"] if s.get("error")}
    failed = {(s["name"], c["what"]): c["detail"] for s in doc["scenarios"]
              for c in s["checks"] if not c["passed"]}
    assert not errors and not failed, json.dumps(
        [errors, [f"{k[0]}: {k[1]} — {v}" for k, v in failed.items()]], indent=1,
        ensure_ascii=False)
    assert result.exit_code == 0, result.output
    assert len(doc["scenarios"]) + len(OWN) >= 12
    fired = {c["what"].split()[1] for s in doc["scenarios"] for c in s["checks"]
             if c["what"].startswith("fault ") and c["passed"]}
    assert {k.split("(")[0] for k in fired} == set(faults.KINDS)
