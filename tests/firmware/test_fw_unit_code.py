"""Quirk class 6.6, scale from a register: a unit-code register names the unit a value is in,
and the catalog says what each code multiplies it by (sensor-maps.md T5, the QDY30A class of
pressure transmitters: 0x0002 unit code, 0x0003 decimal places, 0x0004 the value, int16).

The model is a catalog file in a temporary folder; four transmitters on one line, each set to
another unit by its unit-code register, behind an independent pymodbus peer whose register
words are written here by hand. The unix-port firmware must publish every reading in hPa,
and nothing for a unit the catalog does not list.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fw_harness import NullModem, validator
from fw_station import Subscriber
from quirk_peer import QuirkPeer, Slave

import boards

pytestmark = [pytest.mark.services, pytest.mark.slow]

STATION = "pq-tap-02"

QDY30A = {
    "model": "lab-qdy30a",
    "title": "a QDY30A-class pressure transmitter (first firmware layout), for the test",
    "source": "sensor-maps.md T5", "confidence": "C",
    "bus": "modbus",
    "serial": {"baud": 9600, "bits": 8, "parity": "N", "stop": 1},
    "modbus": {"default_address": 1, "function": 3, "timeout_ms": 250, "turnaround_ms": 20},
    "channels": [
        {"param": "pressure", "unit": "hPa", "register": 4, "type": "int16",
         "decimals_register": 3, "unit_register": 2,
         "unit_codes": [{"code": 0, "scale": 10000, "means": "MPa"},
                        {"code": 1, "scale": 10, "means": "kPa"},
                        {"code": 2, "scale": 0.01, "means": "Pa"},
                        {"code": 3, "scale": 1000, "means": "bar"},
                        {"code": 4, "scale": 1, "means": "mbar"}],
         "range": [-2000, 2000]},
    ],
}

# address -> (unit code, decimal places, value word): registers 2, 3, 4 as the manual lists them
TRANSMITTERS = {
    1: (1, 1, 0x03F5),   # 101.3 kPa
    2: (3, 3, 0x03F5),   # 1.013 bar
    3: (2, 0, 0xFB1E),   # -1250 Pa (int16), a gauge below the atmosphere
    4: (7, 2, 0x0064),   # 1.00 mH2O: a unit the catalog does not list
}
WANT = {"p1_pressure": 1013.0, "p2_pressure": 1013.0, "p3_pressure": -12.5,
        "p4_pressure": None}


def station_password(env: dict[str, str]) -> str:
    entry = json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())[STATION]
    return entry["password"] if isinstance(entry, dict) else entry


@pytest.fixture
def model(tmp_path) -> dict:
    folder = tmp_path / "catalog"
    folder.mkdir()
    path = folder / "lab-qdy30a.json"
    path.write_text(json.dumps(QDY30A))
    return boards.model_file(path)


def test_a_unit_code_register_picks_the_scale_and_an_unlisted_unit_gives_no_value(
        services, launch, model):
    sensors = []
    for addr in TRANSMITTERS:
        entry = boards.sensor_entry({"id": f"p{addr}", "model": "lab-qdy30a", "uart": "rs485",
                                     "address": addr}, model)
        entry["turnaround_ms"] = 20
        entry["ch"][0]["param"] = f"p{addr}_pressure"
        sensors.append(entry)
    modem = NullModem()
    peer = sub = None
    try:
        peer = QuirkPeer(modem.b.path, {a: Slave(holding={2: list(regs)})
                                        for a, regs in TRANSMITTERS.items()})
        sub = Subscriber(services, f"quantrac/v1/{STATION}/data")
        fw = launch({
            "station": STATION,
            "mqtt": {"host": services["QUANTRAC_MQTT_HOST"],
                     "port": int(services["QUANTRAC_MQTT_PORT"]), "user": STATION,
                     "password": station_password(services), "backoff_min_s": 1,
                     "backoff_max_s": 2},
            "uarts": {"rs485": {"path": modem.a.path}},
            "sensors": sensors, "sample_s": 2, "report_s": 10})
        boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)

        def records(msgs: list) -> list[dict]:
            return [r for _t, p, _r in msgs if json.loads(p).get("boot") == boot
                    for r in json.loads(p)["r"]]

        msgs = sub.wait_for(lambda m: len(records(m)) >= 2, timeout=60)
        got = records(msgs)
        for _t, payload, _r in msgs:
            validator("data")(json.loads(payload))
    finally:
        if sub is not None:
            sub.close()
        if peer is not None:
            peer.stop()
        modem.close()
    assert len(got) >= 2, fw.log()
    for param, value in WANT.items():
        v, unit, status, n = got[-1]["d"][param][:4]
        assert unit == "hPa"
        if value is None:
            assert (v, status, n) == (None, 2, 0), (param, got[-1]["d"][param])
        else:
            assert v == pytest.approx(value, abs=1e-9) and status == 0 and n >= 1, \
                (param, got[-1]["d"][param])
    # each transmitter was read once per poll: unit code, decimals and value in one request
    assert {(q.address, q.count) for a in TRANSMITTERS for q in peer.seen(a)} == {(2, 3)}


def test_the_loader_refuses_a_unit_register_without_its_codes(tmp_path):
    doc = json.loads(json.dumps(QDY30A))
    doc["channels"][0].pop("unit_codes")
    path = tmp_path / "lab-qdy30a.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(boards.BoardsError, match=r"channels\[0\]\.unit_codes: unit_register "
                                                 r"and unit_codes go together"):
        boards.model_file(path)
