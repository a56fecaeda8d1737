"""The unix-port firmware end to end into the project's own Mosquitto.

One pymodbus slave (the air station's gas analyser) on a pty cable and one particulate stream
written here, the firmware launched by the run contract, a paho subscriber with the collector's
credentials checking every message against docs/protocol-v1.schema.json.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from fw_harness import registers, validator, wire_bytes
from fw_station import Subscriber
from v1_backlog import v1_cursor, v1_header, v1_slot

import boards
from quantrac.bench.relay import TcpRelay

pytestmark = [pytest.mark.services, pytest.mark.slow]

STATION = "pq-air-01"
REPORT_S = 5
PINNED = {"so2": 12.5, "co": 0.75, "no2": 20.25, "o3": 30.5}  # exact in float32
PM10 = 35
PM_WORDS = {"pm1": 14, "pm2_5": 21, "pm10": PM10}  # what fw_harness.pms_words(35) carries
UNITS = {"so2": "ppb", "co": "ppm", "no2": "ppb", "o3": "ppb", "pm1": "ug/m3",
         "pm2_5": "ug/m3", "pm10": "ug/m3"}
GAS_REGISTERS = registers(b"".join(wire_bytes(PINNED[p], "float32", "CDAB")
                                   for p in ("so2", "co", "no2", "o3")))

check_data = validator("data")
check_status = validator("status")
check_event = validator("event")


def station_password(env: dict[str, str]) -> str:
    secrets = json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())
    entry = secrets[STATION]
    return entry["password"] if isinstance(entry, dict) else entry


def firmware_config(env: dict[str, str], rs485: str, pm: str, port: int | None = None) -> dict:
    """boards.firmware_config for the station, cut down to the two simulated sensors."""
    mqtt = {"host": env["QUANTRAC_MQTT_HOST"], "port": port or int(env["QUANTRAC_MQTT_PORT"]),
            "user": STATION, "password": station_password(env)}
    cfg = boards.firmware_config(boards.registry().get(STATION),
                                 uarts={"rs485": {"path": rs485}, "pm": {"path": pm}},
                                 mqtt=mqtt, sample_s=1, report_s=REPORT_S)
    cfg["sensors"] = [s for s in cfg["sensors"] if s["id"] in ("gas", "pm")]
    for s in cfg["sensors"]:
        if s["id"] == "pm":
            s["warmup_s"] = 1  # the catalog's 15 s would only delay this test
    cfg["mqtt"].update(backoff_min_s=1, backoff_max_s=2)
    return cfg


@pytest.fixture
def subscriber(services):
    sub = Subscriber(services, f"quantrac/v1/{STATION}/#")
    yield sub
    sub.close()


def of_boot(msgs: list, boot: str, leaf: str) -> list[dict]:
    out = []
    for topic, payload, _retained in msgs:
        if topic == f"quantrac/v1/{STATION}/{leaf}":
            doc = json.loads(payload)
            if doc.get("boot") == boot:
                out.append(doc)
    return out


def test_station_publishes_valid_records(services, sensors, subscriber, launch):
    cfg = firmware_config(services, *sensors)
    cfg["backlog"] = {"minmax": True}  # min and max travel too (two more values a parameter)
    fw = launch(cfg)
    boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
    fw.wait_log(r"mqtt connected", timeout=30)
    msgs = subscriber.wait_for(lambda m: len(of_boot(m, boot, "data")) >= 3, timeout=60)
    data = of_boot(msgs, boot, "data")
    assert len(data) >= 3, fw.log()

    assert fw.stop() == 0, fw.log()
    assert "stop offline status published" in fw.log()
    msgs = subscriber.wait_for(
        lambda m: any(s["online"] is False for s in of_boot(m, boot, "status")), timeout=10)

    for msg in data:
        check_data(msg)
    assert [m["seq"] for m in data] == list(range(len(data)))
    records = [r for m in data for r in m["r"]]
    assert all(r["p"] == REPORT_S and r["t"] % REPORT_S == 0 for r in records)
    ts = [r["t"] for r in records]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    assert abs(ts[-1] - time.time()) < 60
    for r in records:
        assert {p: v[1] for p, v in r["d"].items()} == UNITS
    # after the first (partial) period every value is exactly what the sensors carry
    for r in records[1:]:
        for p, want in [*PINNED.items(), *PM_WORDS.items()]:
            value, _unit, status, n, flags, lo, hi = r["d"][p]
            assert (value, status, lo, hi) == (want, 0, want, want), (p, r)
            assert n >= 3 and flags & 1 == 0, (p, r)

    statuses = of_boot(msgs, boot, "status")
    for s in statuses:
        check_status(s)
    assert statuses[0]["online"] is True and statuses[0]["fw"] == "0.1.0"
    assert isinstance(statuses[0]["t"], int)
    assert statuses[-1] == {"v": 1, "st": STATION, "online": False, "boot": boot}
    births = [e for e in of_boot(msgs, boot, "event") if e["ev"] == "birth"]
    assert len(births) == 1
    check_event(births[0])
    assert (births[0]["reset"], births[0]["fw"]) == ("power_on", "0.1.0")
    assert births[0]["slot"] == "-"  # run from its sources: no update slot


def test_records_survive_a_broker_outage(services, sensors, subscriber, launch):
    relay = TcpRelay(services["QUANTRAC_MQTT_HOST"], int(services["QUANTRAC_MQTT_PORT"]))
    try:
        fw = launch(firmware_config(services, *sensors, port=relay.port))
        boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
        # the broker is unreachable: the station keeps sampling and queues its records
        fw.wait_log(r"record t=\d+ .* queued=2", timeout=30)
        assert "mqtt connected" not in fw.log()
        restored_at = time.time()
        relay.up.set()
        msgs = subscriber.wait_for(
            lambda m: sum(len(d["r"]) for d in of_boot(m, boot, "data")) >= 4, timeout=60)
    finally:
        relay.close()
    data = of_boot(msgs, boot, "data")
    for msg in data:
        check_data(msg)
    records = [r for m in data for r in m["r"]]
    ts = [r["t"] for r in records]
    assert len(ts) >= 4, fw.log()
    assert ts[0] < restored_at - REPORT_S  # recorded during the outage, delivered after
    assert ts == list(range(ts[0], ts[0] + REPORT_S * len(ts), REPORT_S))  # nothing lost
    assert any(len(m["r"]) > 1 for m in data)  # the backlog went out in batches
    for r in records[1:]:
        assert r["d"]["so2"][0] == PINNED["so2"] and r["d"]["so2"][3] >= 3


def test_killed_station_is_reported_offline_by_its_will(services, sensors, subscriber, launch):
    # SIGTERM cannot be caught on the unix port (no signal module): the process dies and the
    # broker publishes the last will, the same retained offline status a clean stop sends
    fw = launch(firmware_config(services, *sensors))
    boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
    fw.wait_log(r"mqtt connected", timeout=30)
    subscriber.wait_for(lambda m: of_boot(m, boot, "status"), timeout=10)
    fw.stop(signal.SIGTERM)
    msgs = subscriber.wait_for(
        lambda m: any(s["online"] is False for s in of_boot(m, boot, "status")), timeout=15)
    assert of_boot(msgs, boot, "status")[-1] == {"v": 1, "st": STATION, "online": False,
                                                 "boot": boot}


def test_a_dead_sensor_does_not_delay_the_others(services, sensors, subscriber, launch):
    # A third slave on the gas analyser's line never answers: after two failed polls it is
    # offline and probed with back-off, and the live sensors still give a sample every tick.
    cfg = firmware_config(services, *sensors)
    dead = json.loads(json.dumps(cfg["sensors"][0]))
    dead.update(id="dead", addr=9, tries=2, offline_after=2, offline_min_s=2, offline_max_s=4)
    cfg["sensors"].insert(1, dead)
    for ch in dead["ch"]:
        ch["param"] += "_x"
    fw = launch(cfg)
    boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
    fw.wait_log(r"sensor dead offline", timeout=30)
    offline_at = time.time()
    msgs = subscriber.wait_for(
        lambda m: sum(1 for d in of_boot(m, boot, "data") for r in d["r"]
                      if r["t"] > offline_at + REPORT_S) >= 3, timeout=60)
    later = [r for d in of_boot(msgs, boot, "data") for r in d["r"]
             if r["t"] > offline_at + REPORT_S]
    assert len(later) >= 3, fw.log()
    for r in later:
        assert r["d"]["so2_x"][:5] == [None, "ppb", 2, 0, 2 | 4]  # dead: null, "02", offline
        # one sample per second of the period for the live sensors: none was held up
        assert r["d"]["so2"][3] == REPORT_S and r["d"]["so2"][4] == 0, r
        assert r["d"]["pm10"][3] == REPORT_S, r


def test_an_updated_station_sends_what_its_old_firmware_left(services, sensors, subscriber,
                                                             launch, tmp_path):
    # the data folder as the firmware before the compact records left it: 6 records of the
    # nine-parameter air station (format 1), the first already sent
    old = [("so2", "ppb"), ("co", "ppm"), ("no2", "ppb"), ("o3", "ppb"), ("temp", "degC"),
           ("rh", "%"), ("pressure", "hPa"), ("tsp", "ug/m3"), ("pm10", "ug/m3")]
    t0 = int(time.time()) // 300 * 300 - 6 * 300
    backlog = tmp_path / "data" / "backlog"
    backlog.mkdir(parents=True)
    cols = [(125, 1, 0, 0, 30), (4, 1, 0, 0, 30), (2125, 2, 0, 0, 30), (30, 0, 0, 0, 30),
            (-215, 1, 0, 0, 30), (805, 1, 0, 0, 30), (101325, 2, 0, 0, 30), (1234, 1, 0, 2, 20),
            (0, 7, 2, 4, 0)]
    (backlog / "00000001.seg").write_bytes(
        v1_header(old) + b"".join(v1_slot(t0 + 300 * i, 300, 0, cols) for i in range(6)))
    (backlog / "cursor").write_bytes(v1_cursor(1, 1, 0))
    fw = launch(firmware_config(services, *sensors))
    boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
    assert fw.wait_log(r"boot ready .* backlog=(\d+)").group(1) == "5"

    def olds(msgs):
        return [r for m in of_boot(msgs, boot, "data") for r in m["r"] if r["t"] < t0 + 1800]

    got = olds(subscriber.wait_for(lambda m: len(olds(m)) >= 5, timeout=60))
    assert [r["t"] for r in got] == [t0 + 300 * i for i in range(1, 6)], fw.log()
    want = {"so2": [12.5, "ppb", 0, 30, 0], "co": [0.4, "ppm", 0, 30, 0],
            "no2": [21.25, "ppb", 0, 30, 0], "o3": [30, "ppb", 0, 30, 0],
            "temp": [-21.5, "degC", 0, 30, 0], "rh": [80.5, "%", 0, 30, 0],
            "pressure": [1013.25, "hPa", 0, 30, 0], "tsp": [123.4, "ug/m3", 0, 20, 2],
            "pm10": [None, "ug/m3", 2, 0, 4]}
    assert all(r["p"] == 300 and r["d"] == want for r in got)
    for msg in of_boot(subscriber.snapshot(), boot, "data"):
        check_data(msg)
    # and the new firmware's own records after them, in its own layout
    msgs = subscriber.wait_for(lambda m: any(r["p"] == REPORT_S for d in of_boot(m, boot, "data")
                                             for r in d["r"]), timeout=30)
    new = [r for d in of_boot(msgs, boot, "data") for r in d["r"] if r["p"] == REPORT_S]
    assert set(new[0]["d"]) == {"so2", "co", "no2", "o3", "pm1", "pm2_5", "pm10"}
