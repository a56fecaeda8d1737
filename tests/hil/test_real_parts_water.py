"""The HIL scenario of the registry's water station of real transmitters (pq-tap-05, profile
`water-real`): simulators generated from the catalog files of the Yosemitech Y560, Y504 and
Y511, the unix-port firmware, the real broker, collector and InfluxDB; every parameter of the
station is found in the scenario's database."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_the_real_parts_water_station_publishes_on_the_bench(services, session_run_dir,
                                                              tmp_path):
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["hil", "run", "--scenario", "real-parts-water",
                                       "--run-dir", str(session_run_dir), "--report",
                                       str(report)])
    doc = json.loads(report.read_text())
    (sc,) = doc["scenarios"]
    checks = {c["what"]: c for c in sc["checks"]}
    assert sc["passed"] and result.exit_code == 0, json.dumps(sc, indent=1, ensure_ascii=False)
    y560 = checks["the Y560 reports temperature, pH and NH4-N from its three register blocks"]
    assert all(f"{p}: " in y560["detail"] for p in ("temp", "ph", "nh4"))
    assert "firmware of pq-tap-05 runs to the end" in checks
