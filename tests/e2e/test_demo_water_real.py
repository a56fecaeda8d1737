"""The demo runs the registry's water station of real transmitters (pq-tap-05, profile
`water-real`: Yosemitech Y560 in three register blocks, Y504 started by a read of 0 registers,
Y511 with its error byte) on simulated sensors, through the real broker and collector, and
InfluxDB holds every parameter it measures."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import boards
from quantrac import demo
from quantrac.cli import main

pytestmark = pytest.mark.services

STATION = "pq-tap-05"


def test_the_real_parts_water_station_is_in_the_demo_network():
    st = boards.registry().get(STATION)
    assert (st.kind, st.profile) == ("surface_water", "water-real")
    assert set(st.params()) == {"temp", "ph", "nh4", "do", "turbidity"}


def test_the_demo_stores_every_parameter_of_the_real_parts_water_station(
        services, session_run_dir):
    result = demo.run(None, 20, sample_s=1, report_s=4, run_dir=session_run_dir,
                      say=lambda _m: None, station_ids=[STATION])
    assert result.missing == {}, result.missing
    assert set(result.stored) == {STATION}
    assert set(result.stored[STATION]) == {"temp", "ph", "nh4", "do", "turbidity"}
    assert min(result.stored[STATION].values()) >= 2  # more than one record of each


def test_an_unknown_demo_station_is_named():
    res = CliRunner().invoke(main, ["demo", "--station", "pq-tap-99", "--seconds", "5"])
    assert res.exit_code == 2 and "unknown station 'pq-tap-99'" in res.output
    res = CliRunner().invoke(main, ["demo", "--station", STATION, "--stations", "2"])
    assert res.exit_code == 2 and "not both" in res.output
