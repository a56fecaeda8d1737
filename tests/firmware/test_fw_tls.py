"""The station's uplink over TLS: the files `quantrac station credentials --tls` writes for the
board, the broker's TLS listener (client certificate and password), the unix-port firmware."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fw_station import Firmware, Subscriber
from test_fw_broker import STATION, firmware_config, of_boot

from collector import services as svc
from collector.services import mosquitto
from quantrac.cli import main
from quantrac.field import workspace

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def tls_stack(tmp_path):
    """A private stack (a new listener restarts the broker) with TLS files for STATION."""
    run_dir = tmp_path / "run"
    env = svc.up(run_dir)
    try:
        res = CliRunner().invoke(main, ["station", "credentials", STATION, "--tls",
                                        "--run-dir", str(run_dir)])
        assert res.exit_code == 0, res.output
        yield env, run_dir
    finally:
        svc.down(run_dir)


def test_station_publishes_over_tls_with_its_certificate(tls_stack, sensors, tmp_path):
    env, run_dir = tls_stack
    board = workspace.station_dir(run_dir, STATION)
    cfg = firmware_config(env, *sensors, port=mosquitto.tls_port(mosquitto.Layout(run_dir)))
    cfg["mqtt"]["password"] = json.loads((board / "secrets.json").read_text())["mqtt"]["password"]
    cfg["mqtt"]["tls"] = str(board / workspace.TLS)
    sub = Subscriber(env, f"quantrac/v1/{STATION}/#")  # the collector, on the plain listener
    (tmp_path / "fw").mkdir()
    fw = Firmware(cfg, tmp_path / "fw")
    try:
        boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
        msgs = sub.wait_for(lambda m: of_boot(m, boot, "data"), timeout=60)
    finally:
        code = fw.stop()
        sub.close()
    assert code == 0, fw.log()
    assert of_boot(msgs, boot, "data"), fw.log()
    assert "failed" not in fw.log(), fw.log()

    # the same station trusting another CA (its own certificate as the "CA"): the broker's
    # certificate does not verify and the station does not connect
    wrong = tmp_path / "wrong-ca"
    wrong.mkdir()
    for name in workspace.BOARD_TLS.values():
        (wrong / name).write_bytes((board / workspace.TLS / name).read_bytes())
    (wrong / "ca.der").write_bytes((board / workspace.TLS / "client.der").read_bytes())
    cfg["mqtt"]["tls"] = str(wrong)
    (tmp_path / "fw2").mkdir()
    fw = Firmware(cfg, tmp_path / "fw2")
    try:
        fw.wait_log(r"mqtt connect to \S+ failed", timeout=30)
    finally:
        fw.stop()
    assert "mqtt connected" not in fw.log(), fw.log()


def test_a_station_without_its_tls_files_says_which(services, sensors, tmp_path):
    cfg = firmware_config(services, *sensors)
    cfg["mqtt"]["tls"] = "tls"  # beside config.json, where nothing was copied
    (tmp_path / "fw").mkdir()
    fw = Firmware(cfg, tmp_path / "fw")
    fw.wait_log(r"mqtt\.tls \S+/fw/tls: ", timeout=30)
    try:  # it stops by itself with exit code 2, a moment after the line is written
        fw.proc.wait(15)
    finally:
        code = fw.stop()
    assert code == 2, fw.log()
