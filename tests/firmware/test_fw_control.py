"""Commands, remote config, calibration, the unset clock and the breadcrumbs, end to end.

The unix-port firmware with the gas analyser (pymodbus on a pty cable) and a particulate
stream, talking to the project's Mosquitto; the operator publishes on `cmd`/`config` with
its own credentials; every answer is read back from `event`.
"""

from __future__ import annotations

import json
import re
import signal
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from fw_harness import validator
from fw_station import Firmware, Subscriber
from test_fw_broker import PINNED, STATION, firmware_config, of_boot

from quantrac.bench.relay import TcpRelay

pytestmark = [pytest.mark.services, pytest.mark.slow]

check_event = validator("event")
check_data = validator("data")


class Operator:
    def __init__(self, env: dict[str, str]) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"fw-op-{uuid.uuid4().hex[:8]}")
        self.client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                                    env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
        self.client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        self.client.loop_start()

    def send(self, leaf: str, payload: dict | bytes) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = self.client.publish(f"quantrac/v1/{STATION}/{leaf}", body, qos=1)
        info.wait_for_publish(timeout=10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def operator(services):
    op = Operator(services)
    yield op
    op.close()


@pytest.fixture
def subscriber(services):
    sub = Subscriber(services, f"quantrac/v1/{STATION}/#")
    yield sub
    sub.close()


def ack(sub: Subscriber, boot: str, ident: str | None, timeout: float = 20) -> dict:
    def find(msgs):
        return [e for e in of_boot(msgs, boot, "event") if e["ev"] == "ack"
                and e.get("id") == ident]
    got = find(sub.wait_for(lambda m: find(m), timeout))
    assert got, f"no ack for {ident}"
    check_event(got[0])
    return got[0]


def records_after(sub: Subscriber, boot: str, t: float, count: int, timeout: float = 30):
    """The first `count` records of this boot ending after time t."""
    def find(msgs):
        return [r for d in of_boot(msgs, boot, "data") for r in d["r"] if r["t"] > t]
    got = find(sub.wait_for(lambda m: len(find(m)) >= count, timeout))
    assert len(got) >= count, got
    return got[:count]


def test_commands_config_and_calibration(services, sensors, subscriber, operator, launch,
                                         tmp_path):
    cfg = firmware_config(services, *sensors)
    cfg["clock"] = {"valid_after_s": 8}  # no valid time for the first 8 s after boot
    cfg["health_s"] = 10
    # as on a flashed board: the password in secrets.json beside config.json, not in it
    password = cfg["mqtt"].pop("password")
    (tmp_path / "secrets.json").write_text(json.dumps({"mqtt": {"password": password}}))
    fw = launch(cfg)
    boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
    fw.wait_log(r"clock set: \d+ held records rebased", timeout=30)

    # records closed before the clock was valid: held, then stamped from their ticks (flag 8)
    first = records_after(subscriber, boot, 0, 3)
    assert first[0]["d"]["so2"][4] & 8 and first[0]["t"] < first[-1]["t"]
    assert all(r["t"] > 1704067200 for r in first)

    operator.send("cmd", {"v": 1, "id": "c-1", "cmd": "ping"})
    a = ack(subscriber, boot, "c-1")
    assert a["ok"] is True and a["cmd"] == "ping" and a["uptime"] >= 8

    operator.send("cmd", {"v": 1, "id": "c-2", "cmd": "backlog"})
    a = ack(subscriber, boot, "c-2")
    # format 2: t 4 B, then per parameter (4 gases, pm1, pm2_5, pm10) 8 bits of n (5 samples a
    # period: 4 bits), status and flags, the gases' 4 significant digits in 16 bits, each PM's
    # 0.1 in 14; CRC 2 B
    assert a["ok"] and a["backlog"]["record_bytes"] == \
        4 + (1 + 7 * 8 + 4 * 16 + 3 * 14 + 7) // 8 + 2
    assert a["backlog"]["capacity"] > 17280 and a["backlog"]["dropped"] == 0

    before = (fw.dir / "config.json").read_text()
    operator.send("config", {"v": 1, "id": "k-1", "set": {"report_s": "ten"}})
    a = ack(subscriber, boot, "k-1")
    assert a["ok"] is False and "report_s" in a["why"]
    operator.send("config", {"v": 1, "id": "k-2", "set": {"mqtt": {"port": 1}}})
    assert "cannot be set remotely" in ack(subscriber, boot, "k-2")["why"]
    operator.send("config", {"v": 1, "id": "k-3", "set": {"cal": {"so2": {"v": 2}}}})
    assert "cal.so2" in ack(subscriber, boot, "k-3")["why"]
    operator.send("cmd", b"{not json")
    assert ack(subscriber, boot, None)["why"] == "not JSON"
    assert (fw.dir / "config.json").read_text() == before  # the old config kept

    operator.send("config", {"v": 1, "id": "k-4", "set": {
        "cal": {"so2": {"v": 2, "offset": 1, "slope": 2}}}})
    assert ack(subscriber, boot, "k-4")["ok"] is True
    assert json.loads((fw.dir / "config.json").read_text())["cal"]["so2"]["v"] == 2
    applied = time.time()
    r = records_after(subscriber, boot, applied + 5, 1)[0]
    assert r["d"]["so2"][0] == PINNED["so2"] * 2 + 1 and r["d"]["co"][0] == PINNED["co"]

    operator.send("cmd", {"v": 1, "id": "c-3", "cmd": "cal_start", "args": {"params": ["co"]}})
    assert ack(subscriber, boot, "c-3")["params"] == ["co"]
    r = records_after(subscriber, boot, time.time(), 1)[0]
    assert (r["d"]["co"][2], r["d"]["so2"][2]) == (1, 0)  # calibrating: status "01"
    operator.send("cmd", {"v": 1, "id": "c-4", "cmd": "cal_stop"})
    assert ack(subscriber, boot, "c-4")["ok"]
    r = records_after(subscriber, boot, time.time() + 5, 1)[0]
    assert r["d"]["co"][2] == 0

    operator.send("cmd", {"v": 1, "id": "c-5", "cmd": "report_interval", "args": {"s": 10}})
    assert ack(subscriber, boot, "c-5")["ok"]
    r = records_after(subscriber, boot, time.time() + 10, 1)[0]
    assert r["p"] == 10 and r["t"] % 10 == 0
    assert json.loads((fw.dir / "config.json").read_text())["report_s"] == 10
    assert password not in (fw.dir / "config.json").read_text()  # still only in secrets.json

    health = [e for e in of_boot(subscriber.snapshot(), boot, "event") if e["ev"] == "health"]
    assert health, "a health event every health_s"
    check_event(health[0])
    assert {"heap", "backlog", "rssi", "uptime", "errors"} <= set(health[0])

    operator.send("cmd", {"v": 1, "id": "c-6", "cmd": "reboot"})
    assert ack(subscriber, boot, "c-6")["ok"]
    reborn = fw.wait_log(rf"boot=(?!{boot})([0-9a-f]{{8}})", timeout=30).group(1)
    msgs = subscriber.wait_for(lambda m: of_boot(m, reborn, "event"), 30)
    birth = of_boot(msgs, reborn, "event")[0]
    check_event(birth)
    assert (birth["ev"], birth["reset"], birth["boots"], birth["cal"]) == (
        "birth", "command", 2, {"so2": 2})
    fw.wait_log(r"publish seq=0 ", timeout=30)
    assert fw.proc.poll() is None  # the same process: the unix port reboots in place


def test_backlog_and_breadcrumbs_survive_a_hard_kill(services, sensors, subscriber, tmp_path):
    relay = TcpRelay(services["QUANTRAC_MQTT_HOST"], int(services["QUANTRAC_MQTT_PORT"]))
    fw = None
    try:
        cfg = firmware_config(services, *sensors, port=relay.port)
        fw = Firmware(cfg, tmp_path)
        fw.wait_log(r"record t=\d+ .* queued=3", timeout=30)  # broker unreachable meanwhile
        fw.proc.send_signal(signal.SIGKILL)
        fw.stop()
        kept = [int(t) for t in re.findall(r"record t=(\d+) ", fw.log())]
        relay.up.set()
        fw = Firmware(cfg, tmp_path)
        boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
        assert int(fw.wait_log(r"boot ready .* backlog=(\d+)").group(1)) == len(kept)
        assert "reset=hard" in fw.log()
        msgs = subscriber.wait_for(
            lambda m: {r["t"] for d in of_boot(m, boot, "data") for r in d["r"]} >= set(kept),
            timeout=30)
    finally:
        if fw is not None:
            fw.stop()
        relay.close()
    sent = [r["t"] for d in of_boot(msgs, boot, "data") for r in d["r"]]
    for d in of_boot(msgs, boot, "data"):
        check_data(d)
    assert sent[:len(kept)] == kept  # the records of the killed boot, first and in order
    birth = [e for e in of_boot(msgs, boot, "event") if e["ev"] == "birth"][0]
    assert birth["reset"] == "hard" and birth["boots"] == 2 and birth["crumb"] != "stop"


def test_commands_sent_while_the_station_is_offline_wait_for_it(
        services, sensors, subscriber, operator, tmp_path):
    # Persistent session: what the operator sends during an outage is delivered at the next
    # connect, even more than the station's inbox holds; stale ones (exp) are refused, a
    # duplicate is answered without running twice, and calibration mode outlives a reboot.
    relay = TcpRelay(services["QUANTRAC_MQTT_HOST"], int(services["QUANTRAC_MQTT_PORT"]))
    relay.up.set()
    fw = None
    try:
        fw = Firmware(firmware_config(services, *sensors, port=relay.port), tmp_path)
        boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
        # its first subscription makes the broker keep what comes for it: not before
        fw.wait_log(r"mqtt connected", timeout=30)
        operator.send("cmd", {"v": 1, "id": "o-0", "cmd": "ping"})
        assert ack(subscriber, boot, "o-0")["ok"]

        relay.cut()
        fw.wait_log(r"mqtt link lost", timeout=30)
        sent = [{"v": 1, "id": "o-1", "cmd": "cal_start", "args": {"params": ["co"]}},
                {"v": 1, "id": "o-2", "cmd": "ping", "exp": int(time.time()) - 60},
                {"v": 1, "id": "o-3", "cmd": "backlog", "exp": int(time.time()) + 3600},
                {"v": 1, "id": "o-4", "cmd": "ping"},
                {"v": 1, "id": "o-4", "cmd": "ping"}]
        for doc in sent:
            operator.send("cmd", doc)
        relay.up.set()

        def acks(msgs):
            return [e for e in of_boot(msgs, boot, "event") if e["ev"] == "ack"
                    and e.get("id", "").startswith("o-") and e["id"] != "o-0"]
        got = acks(subscriber.wait_for(lambda m: len(acks(m)) >= 5, timeout=60))
        for e in got:
            check_event(e)
        assert [e["id"] for e in got] == ["o-1", "o-2", "o-3", "o-4", "o-4"], got
        assert got[0]["ok"] and got[0]["params"] == ["co"]
        assert got[1]["ok"] is False and "expired" in got[1]["why"]
        assert got[2]["ok"] and "backlog" in got[2]
        assert got[3]["ok"] and "dup" not in got[3] and got[4]["dup"] is True
        assert "held back at the broker" in fw.log()  # five did not fit the inbox of two

        operator.send("cmd", {"v": 1, "id": "o-5", "cmd": "reboot"})
        assert ack(subscriber, boot, "o-5")["ok"]
        reborn = fw.wait_log(rf"boot=(?!{boot})([0-9a-f]{{8}})", timeout=30).group(1)
        fw.wait_log(r"calibration mode kept from before the reboot: co", timeout=30)
        r = records_after(subscriber, reborn, 0, 1)[0]
        assert (r["d"]["co"][2], r["d"]["so2"][2]) == (1, 0)  # still status "01"

        # the broker delivers the reboot again (as after a lost PUBACK): recognised across
        # the reboot, answered as a duplicate, and the station stays up
        operator.send("cmd", {"v": 1, "id": "o-5", "cmd": "reboot"})
        again = ack(subscriber, reborn, "o-5")
        assert again["ok"] and again["dup"] is True
        operator.send("cmd", {"v": 1, "id": "o-6", "cmd": "ping"})
        assert ack(subscriber, reborn, "o-6")["ok"]  # answered by the same boot
        assert len(set(re.findall(r"boot=([0-9a-f]{8})", fw.log()))) == 2
    finally:
        if fw is not None:
            fw.stop()
        relay.close()
