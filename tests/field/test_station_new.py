"""`quantrac station new`: a station enters a registry only whole and valid (checked by boards)."""

from __future__ import annotations

import json

from click.testing import CliRunner

import boards
from quantrac.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def new(registry, *extra, station="pq-air-17", name="Gành Dầu - Trạm mới", profile="air-standard",
        lat=10.375, lon=103.845):
    return run("station", "new", station, "--name", name, "--profile", profile, "--lat", lat,
               "--lon", lon, "--registry", registry, *extra)


def test_new_station_is_appended_with_the_network_defaults_and_loads(registry_copy):
    text = registry_copy.read_text()
    before = json.loads(text)
    res = new(registry_copy, "--class", "tourism", "--address", "gas=7")
    assert res.exit_code == 0, res.output
    # appended, the rest of the file byte for byte as it was written (hand-made layout too)
    assert registry_copy.read_text().startswith(text[:text.rindex("]")].rstrip() + ",\n  {")
    doc = json.loads(registry_copy.read_text())
    assert doc["stations"][:-1] == before["stations"]
    added = doc["stations"][-1]
    assert added == {"id": "pq-air-17", "name": "Gành Dầu - Trạm mới", "kind": "air",
                     "lat": 10.375, "lon": 103.845, "class": "tourism",
                     "regulation": "QCVN 05:2023/BTNMT", "column": None,
                     "profile": "air-standard", "sensors": {"gas": {"address": 7}}}
    listed = run("station", "list", "--registry", registry_copy)
    assert "pq-air-17" in listed.output and "Gành Dầu" in listed.output
    cfg = run("station", "config", "pq-air-17", "--registry", registry_copy, "--port",
              "rs485=/dev/ttyUSB0", "--port", "pm=/dev/ttyUSB1", "--mqtt-host", "10.8.0.1")
    assert cfg.exit_code == 0, cfg.output
    assert [s.get("addr") for s in json.loads(cfg.output)["sensors"]] == [7, 2, 3, None]


def test_the_checked_in_registry_is_not_what_changes(registry_copy):
    original = (boards.HERE / "registry" / "phu-quoc.json").read_bytes()
    assert new(registry_copy).exit_code == 0
    assert (boards.HERE / "registry" / "phu-quoc.json").read_bytes() == original
    assert "pq-air-17" not in boards.registry().ids()


def test_bad_stations_are_refused_with_the_reason_and_the_file_unchanged(registry_copy):
    before = registry_copy.read_bytes()
    cases = [
        (new(registry_copy, station="PQ_Air"), "is not lower-case a-z, 0-9 and -"),
        (new(registry_copy, station="pq-air-01"), "'pq-air-01' is already in the registry"),
        (new(registry_copy, station="collector"), "is reserved"),
        (new(registry_copy, profile="air-deluxe"), "profile 'air-deluxe' does not exist"),
        (new(registry_copy, lat=103.845, lon=10.375), "are not a latitude"),
        (new(registry_copy, lat=21.03, lon=105.85), "km from the nearest station"),
        (new(registry_copy, station="pq-ww-05", profile="wastewater"), "give --column"),
        (new(registry_copy, "--address", "tsp=1"), "'gas' and 'tsp' would both answer at "
                                                  "address 1 on uart 'rs485'"),
        (new(registry_copy, "--address", "pm=4"), "streams on its own UART"),
        (new(registry_copy, "--address", "wind=4"), "has no sensor 'wind'"),
        (new(registry_copy, name="  "), "needs a name"),
    ]
    for res, reason in cases:
        assert res.exit_code != 0 and reason in res.output, (reason, res.output)
    assert registry_copy.read_bytes() == before
    assert not list(registry_copy.parent.glob(".*"))  # no half-written temporary left


def test_far_coordinates_go_in_when_the_technician_says_so(registry_copy):
    res = new(registry_copy, "--allow-far", lat=21.03, lon=105.85)
    assert res.exit_code == 0, res.output


def test_a_broken_registry_file_is_named(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{\"stations\": [")
    res = run("station", "list", "--registry", broken)
    assert res.exit_code != 0 and f"{broken}: not JSON" in res.output
    res = run("station", "list", "--registry", tmp_path / "missing.json")
    assert res.exit_code != 0 and "no such registry file" in res.output
