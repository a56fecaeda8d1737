"""The issue's acceptance command, `quantrac hil run --all --report …`, on the unix-port
firmware: every shipped scenario passes, at least a dozen of them, and between them every
field fault the simulators can play took effect (about three minutes on two cores)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hil import faults
from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_every_shipped_scenario_passes(services, session_run_dir, tmp_path):
    report = tmp_path / "hil-report.json"
    result = CliRunner().invoke(main, ["hil", "run", "--all", "--run-dir", str(session_run_dir),
                                       "--report", str(report)])
    doc = json.loads(report.read_text())
    failed = {s["name"]: [c for c in s["checks"] if not c["passed"]] or s.get("error")
              for s in doc["scenarios"] if not s["passed"]}
    assert result.exit_code == 0 and not failed, json.dumps(failed, indent=1, ensure_ascii=False)
    assert len(doc["scenarios"]) >= 12 and doc["passed"] is True
    fired = {c["what"].split()[1] for s in doc["scenarios"] for c in s["checks"]
             if c["what"].startswith("fault ") and c["passed"]}
    assert {k.split("(")[0] for k in fired} == set(faults.KINDS)
