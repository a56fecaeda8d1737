"""`quantrac sensor …` against hil's simulated transmitters on a pty: what a technician sees on
the laptop's USB-RS485 adapter before a sensor is wired to a board."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import boards
from hil.bus import ModbusBus
from hil.modbus_slave import ModbusSlave
from hil.ports import PtyPort
from quantrac.cli import main

LINE = {1: "qt-gas4-ec", 2: "qt-thp-485", 3: "qt-dust-tsp", 5: "qt-ph-485"}
PINS = {2: {"temp": -5.3, "rh": 77.4, "pressure": 1008.6}, 5: {"ph": 7.85, "temp": 29.47}}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def line():
    """A bench line: four transmitters at addresses 1, 2, 3 and 5."""
    slaves = []
    for address, model in LINE.items():
        slave = ModbusSlave(boards.catalog()[model], address)
        for param, value in PINS.get(address, {}).items():
            slave.pin(param, value)
        slaves.append(slave)
    with PtyPort() as port, ModbusBus(port, slaves):
        yield port.path


def test_probe_finds_every_transmitter_and_what_it_is(line):
    res = run("sensor", "probe", "--port", line, "--addresses", "1-6")
    assert res.exit_code == 0, res.output
    found = dict(re.findall(r"address +(\d+) @ +9600: .*?fits ([\w, -]+)", res.output))
    assert set(found) == {"1", "2", "3", "5"}, res.output
    for address, model in LINE.items():
        assert found[str(address)].split(", ")[0] == model, res.output
    assert "address   4" not in res.output and "address   6" not in res.output


def test_reading_a_sensor_by_its_catalog_model(line):
    res = run("sensor", "read", "--port", line, "--model", "qt-thp-485", "--address", 2)
    assert res.exit_code == 0, res.output
    for param, value in PINS[2].items():
        assert re.search(rf"{param} +{value:g} ", res.output), res.output
    res = run("sensor", "read", "--port", line, "--model", "qt-ph-485", "--address", 5)
    assert res.exit_code == 0 and re.search(r"ph +7\.85 pH +0 \.\. 14 +ok", res.output)


def test_a_wrong_model_or_an_empty_address_says_so(line):
    res = run("sensor", "read", "--port", line, "--model", "qt-thp-485", "--address", 1)
    assert res.exit_code == 1 and "NO VALUE" in res.output and "illegal function" in res.output
    res = run("sensor", "read", "--port", line, "--model", "qt-thp-485", "--address", 9)
    assert res.exit_code == 1 and "No communication with the instrument" in res.output
    res = run("sensor", "read", "--port", line, "--model", "qt-pm-pms")
    assert res.exit_code != 0 and "streams frames on its own UART" in res.output
    res = run("sensor", "probe", "--port", line, "--addresses", "7-8", "--no-identify")
    assert res.exit_code == 1 and "nothing answered" in res.output
    res = run("sensor", "probe", "--port", "/dev/nonexistent-adapter")
    assert res.exit_code != 0 and "cannot open the adapter" in res.output


def test_setting_an_address_uses_the_catalog_register(line):
    # The catalog says where qt-thp-485 keeps its address: after the write it answers there
    # and no longer at the old one.
    res = run("sensor", "set-address", "--port", line, "--model", "qt-thp-485",
              "--address", 2, "--new-address", 7)
    assert res.exit_code == 0, res.output
    assert run("sensor", "read", "--port", line, "--model", "qt-thp-485",
               "--address", 7).exit_code == 0
    res = run("sensor", "read", "--port", line, "--model", "qt-thp-485", "--address", 2)
    assert res.exit_code == 1 and "No communication with the instrument" in res.output
    res = run("sensor", "set-address", "--port", line, "--model", "qt-thp-485",
              "--address", 7, "--new-address", 300)
    assert res.exit_code == 2 and "1<=x<=247" in res.output
    res = run("sensor", "set-address", "--port", line, "--model", "qt-gas4-ec",
              "--address", 1, "--new-address", 7)
    assert res.exit_code != 0 and "no address or baud procedure" in res.output


def test_a_transmitter_reporting_its_own_error_code_shows_no_value_and_the_code():
    slave = ModbusSlave(boards.catalog()["yosemitech-y511"], 1)
    slave.pin("turbidity", 0.75)
    with PtyPort() as port, ModbusBus(port, [slave]):
        res = run("sensor", "read", "--port", port.path, "--model", "yosemitech-y511")
        assert res.exit_code == 0 and re.search(r"turbidity +0\.75 NTU", res.output), res.output
        slave.set_error("turbidity", 3)
        res = run("sensor", "read", "--port", port.path, "--model", "yosemitech-y511")
    assert res.exit_code == 1 and "NO VALUE" in res.output, res.output
    assert "error code 0x0300 in register 9732" in res.output, res.output
