"""The `quantrac` command: groups load lazily and bad arguments get a clear error."""

import json

from click.testing import CliRunner

from quantrac.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_help_lists_every_group():
    out = run("--help").output
    for group in ("services", "collector", "demo", "firmware", "station", "index"):
        assert group in out


def test_station_config_is_what_a_board_runs_from():
    res = run("station", "config", "pq-ww-02", "--port", "rs485=/dev/ttyUSB0",
              "--mqtt-host", "10.8.0.1", "--report-s", "60")
    assert res.exit_code == 0, res.output
    cfg = json.loads(res.output)
    assert cfg["station"] == "pq-ww-02" and cfg["report_s"] == 60
    assert cfg["uarts"]["rs485"]["path"] == "/dev/ttyUSB0"
    assert [s["addr"] for s in cfg["sensors"]] == [1, 2, 3, 4, 5, 6]  # pH, DO, TSS, NH4, COD, flow


def test_bad_arguments_say_what_is_wrong():
    res = run("station", "config", "pq-air-01", "--port", "rs485", "--mqtt-host", "h")
    assert res.exit_code != 0 and "is not NAME=DEVICE" in res.output
    res = run("station", "config", "pq-air-99", "--port", "rs485=/dev/x", "--mqtt-host", "h")
    assert res.exit_code != 0 and "unknown station 'pq-air-99'" in res.output
    res = run("station", "config", "pq-air-01", "--port", "rs485=/dev/x", "--mqtt-host", "h")
    assert res.exit_code != 0 and "no port for uart 'pm'" in res.output
    res = run("demo", "--stations", "0")
    assert res.exit_code == 2 and "--stations" in res.output
    res = run("demo", "--sample-s", "10", "--report-s", "5", "--seconds", "10")
    assert res.exit_code == 2 and "--report-s" in res.output
