"""`quantrac station cmd` / `configure`: the operations room talks to a running station (the
unix-port firmware with its sensors simulated) through the project's broker."""

from __future__ import annotations

import json
import re
import time

import pytest
from click.testing import CliRunner

import boards
from hil.station import SimulatedStation
from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]
STATION = "pq-air-04"


def run(run_dir, *args):
    return CliRunner().invoke(main, ["station", *map(str, args), "--run-dir", str(run_dir)])


@pytest.fixture
def station(services, tmp_path):
    sim = SimulatedStation(boards.registry().get(STATION), services, tmp_path, sample_s=2,
                           report_s=30)
    sim.start()
    try:
        deadline = time.monotonic() + 60
        while "mqtt connected" not in sim.log_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "mqtt connected" in sim.log_text(), sim.log_text()
        yield sim
    finally:
        sim.stop()


def test_commands_and_config_reach_the_station_and_its_answers_come_back(
        station, session_run_dir):
    res = run(session_run_dir, "cmd", STATION, "ping")
    assert res.exit_code == 0, res.output + station.log_text()
    assert re.search(rf"^{STATION} did ping \(op-\w+, boot [0-9a-f]{{8}}\)", res.output, re.M)
    assert re.search(r"^  uptime: \d+$", res.output, re.M)

    res = run(session_run_dir, "cmd", STATION, "cal_start", "--param", "co")
    assert res.exit_code == 0 and '  params: ["co"]' in res.output, res.output
    assert json.loads((station.dir / "data" / "calibrating.json").read_text()) == ["co"]
    assert run(session_run_dir, "cmd", STATION, "cal_stop").exit_code == 0

    res = run(session_run_dir, "configure", STATION, 'report_s="ten"')
    assert res.exit_code == 1 and "refused config report_s" in res.output, res.output
    res = run(session_run_dir, "configure", STATION, "report_s=60")
    assert res.exit_code == 0 and '  applied: ["report_s"]' in res.output, res.output
    assert json.loads(station.config_path.read_text())["report_s"] == 60


@pytest.mark.parametrize("args, code, message", [
    (("cmd", STATION, "cal_start", "--param", "ph"), 2, "'ph' is not measured at pq-air-04"),
    (("cmd", STATION, "report_interval"), 2, "--seconds goes with report_interval"),
    (("cmd", STATION, "ping", "--seconds", "5"), 2, "--seconds goes with report_interval"),
    (("cmd", STATION, "ping", "--expire-in", "soon"), 2, "not a duration"),
    (("cmd", STATION, "selfdestruct"), 2, "'selfdestruct' is not one of"),
    (("cmd", "pq-nowhere-9", "ping"), 1, "pq-nowhere-9"),
    (("configure", STATION, "mqtt={}"), 2, "'mqtt' cannot be set remotely"),
    (("configure", STATION, "report_s=sixty"), 2, "is not JSON"),
])
def test_bad_arguments_are_refused_before_anything_is_sent(session_run_dir, args, code,
                                                           message):
    res = run(session_run_dir, *args)
    assert res.exit_code == code and message in res.output, res.output


def test_an_offline_station_gets_nothing_now_and_the_operator_is_told(services,
                                                                      session_run_dir):
    res = run(session_run_dir, "cmd", "pq-air-16", "ping", "--wait", "1", "--expire-in", "2s")
    assert res.exit_code == 3, res.output
    assert "pq-air-16 has not answered ping" in res.output and "the broker keeps it" in res.output
