"""Board mode without a board: the config an ESP32 gets, and the simulators serving a serial
device through pyserial, as they would a USB RS-485 adapter. (Deploying with mpremote and the
board itself are what the bench on a desk is for; see hil/README.md.)

A pty pair stands in for each adapter: the simulator opens the device end with pyserial, the
test plays the board on the other end.
"""

from __future__ import annotations

import json
import os
import select
import time

import pytest

import boards
from hil import board
from hil import modbus_rtu as rtu
from hil.ports import PtyPort


def test_uart_options_are_parsed_and_a_bad_one_is_named():
    assert board.parse_uarts(["rs485=/dev/ttyUSB1", "pm=/dev/ttyUSB2"]) == {
        "rs485": "/dev/ttyUSB1", "pm": "/dev/ttyUSB2"}
    with pytest.raises(board.BoardError, match="--uart 'rs485': expected NAME=DEVICE"):
        board.parse_uarts(["rs485"])


def test_a_tree_without_main_is_not_deployed(tmp_path):
    with pytest.raises(board.BoardError, match="no firmware in"):
        board.firmware_tree(tmp_path)
    (tmp_path / "main.py").write_text("")
    assert board.firmware_tree(tmp_path) == tmp_path


def test_the_board_config_has_esp32_pins_wifi_and_a_reachable_broker(tmp_path):
    secrets = tmp_path / "stations.json"
    secrets.write_text(json.dumps({"pq-air-01": "pw"}))
    env = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
           "QUANTRAC_STATION_SECRETS": str(secrets)}
    (tmp_path / "main.py").write_text("")
    rs485, pm = PtyPort(), PtyPort()
    station = board.BoardStation(
        boards.registry().get("pq-air-01"), env, tmp_path, repl="/dev/ttyUSB0",
        devices={"rs485": rs485.path, "pm": pm.path}, mqtt_host="192.0.2.10:1884",
        wifi={"ssid": "bench", "password": "secret"}, firmware_dir=tmp_path)
    try:
        config = json.loads(station.prepare().read_text())
        pins = boards.pins("esp32-devkitc")["uarts"]
        assert config["uarts"]["rs485"] == {**pins["rs485"], "baud": 9600, "bits": 8,
                                            "parity": "N", "stop": 1}
        assert "path" not in config["uarts"]["pm"] and config["uarts"]["pm"]["rx"] == 26
        assert config["mqtt"]["host"] == "192.0.2.10" and config["mqtt"]["port"] == 1884
        assert config["wifi"] == {"ssid": "bench", "password": "secret"}
        # the gas analyser answers through pyserial on the "adapter" like on a pty
        station.sims["gas"].pin("so2", 42.0)
        os.write(rs485.fd, rtu.read_request(1, 3, 0, 2))
        reply, deadline = b"", time.monotonic() + 5
        while len(reply) < 9 and time.monotonic() < deadline:
            if select.select([rs485.fd], [], [], 0.2)[0]:
                reply += os.read(rs485.fd, 64)
        assert rtu.crc_ok(reply) and reply[:3] == b"\x01\x03\x04"
    finally:
        station.stop()
        rs485.close()
        pm.close()


def test_a_station_uart_without_an_adapter_is_named(tmp_path):
    (tmp_path / "main.py").write_text("")
    with pytest.raises(board.BoardError, match="needs --uart for pm"):
        board.BoardStation(boards.registry().get("pq-air-01"), {}, tmp_path, repl="/dev/x",
                           devices={"rs485": "/dev/y"}, mqtt_host="h", wifi={},
                           firmware_dir=tmp_path)


def test_missing_board_options_stop_the_run_before_anything_starts(tmp_path):
    from click.testing import CliRunner

    from quantrac.cli import main

    res = CliRunner().invoke(main, ["hil", "run", "--scenario", "unplug-thp", "--board",
                                    "/dev/ttyUSB0", "--uart", "rs485=/dev/ttyUSB1",
                                    "--mqtt-host", "bench-pc", "--run-dir", str(tmp_path)])
    assert res.exit_code != 0 and "needs --uart pm=DEVICE" in res.output
    res = CliRunner().invoke(main, ["hil", "run", "--scenario", "unplug-thp", "--board",
                                    "/dev/ttyUSB0", "--run-dir", str(tmp_path)])
    assert res.exit_code != 0 and "--mqtt-host" in res.output
    assert not (tmp_path / "services.json").exists()  # no service was started for nothing
