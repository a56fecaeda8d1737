"""The demo runs the water station of real transmitters (rp-water-01 of the `real-parts`
registry, profile `water-real`: Yosemitech Y560 in three register blocks, Y504 started by a
read of 0 registers, Y511 with its error byte) on simulated sensors, through the real broker
(an account from that registry) and a collector judging it by that registry, and InfluxDB
holds every parameter it measures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import boards
from quantrac import demo
from quantrac.cli import main

pytestmark = pytest.mark.services

STATION = "rp-water-01"
PARAMS = {"temp", "ph", "nh4", "do", "turbidity"}


def test_the_real_parts_registry_holds_a_water_station_of_the_real_profile():
    st = boards.registry("real-parts").get(STATION)
    assert (st.kind, st.profile) == ("surface_water", "water-real")
    assert set(st.params()) == PARAMS
    assert STATION not in boards.registry().ids()  # not a station of the programme


def test_the_demo_stores_every_parameter_of_the_real_parts_water_station(
        services, session_run_dir):
    result = demo.run(None, 20, sample_s=1, report_s=4, run_dir=session_run_dir,
                      say=lambda _m: None, registry="real-parts")
    assert result.missing == {}, result.missing
    assert set(result.stored) == {STATION}
    assert set(result.stored[STATION]) == PARAMS
    assert min(result.stored[STATION].values()) >= 2  # more than one record of each


def test_an_unknown_demo_registry_or_station_is_named():
    res = CliRunner().invoke(main, ["demo", "--registry", "nowhere", "--seconds", "5"])
    assert res.exit_code == 2 and "boards/registry/nowhere.json: no such file" in res.output
    res = CliRunner().invoke(main, ["demo", "--registry", "real-parts", "--station",
                                    "pq-tap-02", "--seconds", "5"])
    assert res.exit_code == 2 and "unknown station 'pq-tap-02'" in res.output
    res = CliRunner().invoke(main, ["demo", "--station", "pq-tap-02", "--stations", "2"])
    assert res.exit_code == 2 and "not both" in res.output


def test_the_real_parts_water_station_builds(tmp_path):
    res = CliRunner().invoke(main, ["station", "build", STATION, "--registry", "real-parts",
                                    "--target", "unix", "--mqtt-host", "10.8.0.1",
                                    "--build-root", str(tmp_path / "build"), "--run-dir",
                                    str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert f"total for {STATION}" in res.output
    configs = list((tmp_path / "run").rglob("config.json"))
    assert len(configs) == 1, configs
    cfg = json.loads(configs[0].read_text())
    assert [(s["model"], s["addr"]) for s in cfg["sensors"]] == [
        ("yosemitech-y560", 1), ("yosemitech-y504", 3), ("yosemitech-y511", 5)]
