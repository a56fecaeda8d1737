"""`quantrac hil run` end to end: simulators with faults → unix-port firmware on a fast clock →
the project's own Mosquitto → collector → InfluxDB, then every expected outcome judged and
written to the JSON report.

Two small scenarios run side by side: one whose outcomes hold (an unplugged transmitter gives
status 02 while its neighbours on the line keep reporting), one that expects something that
cannot happen, so the test also proves that a check fails, the report says why and the command
exits 1.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from collector.services import influxdb
from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]

UNPLUG = """\
about: A THP transmitter drops off the RS-485 line for half an hour.
start: 2025-06-02T06:00:00+07:00
duration: 1h30m
speed: 300
sample_s: 150
report_s: 300
stations: [pq-air-01]
faults:
  - {station: pq-air-01, sensor: thp, fault: unplug, from: 30m, to: 1h}
checks:
  - what: temperature and humidity have status 02 while the THP is unplugged
    readings: {station: pq-air-01, params: [temp, rh], status: 2, between: [40m, 55m],
               share: 1.0}
  - what: the gas analyser on the same line keeps reporting
    readings: {station: pq-air-01, params: [so2, no2], status: 0, share: 0.9}
  - what: readings of the hour are stored with QC flags
    readings: {station: pq-air-01, param: pressure, qc_bit: device_error, between: [40m, 55m]}
"""

IMPOSSIBLE = """\
about: Expects a pH no probe can read (a device error would not do, a loaded machine can
  make a reply late past its timeout).
start: 2025-06-02T06:00:00+07:00
duration: 1h
speed: 600
sample_s: 150
report_s: 300
stations: [pq-tap-01]
checks:
  - what: pH reports all hour
    readings: {station: pq-tap-01, param: ph, status: 0, share: 0.9}
  - what: pH reads above 100 (it cannot)
    readings: {station: pq-tap-01, param: ph, status: 0, above: 100}
"""


def test_hil_run_judges_outcomes_end_to_end_and_reports_them(services, session_run_dir,
                                                            tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "bench-unplug.yaml").write_text(UNPLUG)
    (folder / "bench-impossible.yaml").write_text(IMPOSSIBLE)
    report = tmp_path / "hil-report.json"
    result = CliRunner().invoke(main, [
        "hil", "run", "--all", "--dir", str(folder), "--run-dir", str(session_run_dir),
        "--report", str(report), "--jobs", "2"])
    assert result.exit_code == 1, result.output  # one scenario fails on purpose
    doc = json.loads(report.read_text())
    by_name = {s["name"]: s for s in doc["scenarios"]}
    assert set(by_name) == {"bench-unplug", "bench-impossible"} and doc["passed"] is False

    unplug = by_name["bench-unplug"]
    assert unplug["passed"], json.dumps(unplug, indent=1)
    whats = [c["what"] for c in unplug["checks"]]
    assert "fault unplug on pq-air-01/thp took effect" in whats
    assert "firmware of pq-air-01 runs to the end" in whats

    impossible = by_name["bench-impossible"]
    verdicts = {c["what"]: c for c in impossible["checks"]}
    assert verdicts["pH reports all hour"]["passed"], verdicts
    failed = verdicts["pH reads above 100 (it cannot)"]
    assert failed["passed"] is False and "ph: 0 match of" in failed["detail"]
    assert "FAIL pH reads above 100 (it cannot)" in result.output

    # each scenario wrote into a database of its own, dropped after the run
    status, shown = influxdb.query(services["QUANTRAC_INFLUX_URL"], "SHOW DATABASES",
                                   (services["QUANTRAC_INFLUX_ADMIN_USER"],
                                    services["QUANTRAC_INFLUX_ADMIN_PASSWORD"]))
    names = [row[0] for row in shown["results"][0]["series"][0]["values"]]
    assert status == 200 and not [n for n in names if n.startswith("hil_")]
