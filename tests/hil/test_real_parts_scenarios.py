"""The HIL scenarios of real transmitters: `real-parts-water`, the water station of real parts
only (rp-water-01 of the real-parts registry, profile `water-real`), and `quirk-classes`, a
station per quirk class of sensor-maps.md §6 with a named check per class. Simulators
generated from the catalog files, the unix-port firmware, the real broker, collector and
InfluxDB."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]

CLASSES = ("6.1", "6.2", "6.3", "6.5", "6.6", "6.7", "6.8")  # 6.4: test_simulator_quirks.py


def test_real_parts_publish_and_every_quirk_class_reaches_the_database(
        services, session_run_dir, tmp_path):
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["hil", "run", "--scenario", "real-parts-water",
                                       "--scenario", "quirk-classes", "--run-dir",
                                       str(session_run_dir), "--report", str(report)])
    doc = json.loads(report.read_text())
    scenarios = {s["name"]: s for s in doc["scenarios"]}
    assert all(s["passed"] for s in scenarios.values()) and result.exit_code == 0, \
        json.dumps(doc, indent=1, ensure_ascii=False)
    water = {c["what"]: c for c in scenarios["real-parts-water"]["checks"]}
    y560 = water["6.3 one read per block, silent between: the Y560's temperature, pH and "
                 "NH4-N"]
    assert all(f"{p}: " in y560["detail"] for p in ("temp", "ph", "nh4"))
    assert "firmware of rp-water-01 runs to the end" in water
    named = [c["what"] for s in scenarios.values() for c in s["checks"]]
    for cls in CLASSES:
        assert any(w.startswith(cls + " ") for w in named), cls
    assert sum(w.startswith("fault unavailable") for w in named) == 3
