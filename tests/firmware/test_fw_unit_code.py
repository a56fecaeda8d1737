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

import pytest
from fw_harness import NullModem, validator
from fw_station import BOOT, Subscriber, line_sensor, station_config, wait_records
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


def test_a_unit_code_register_picks_the_scale_and_an_unlisted_unit_gives_no_value(
        services, launch, model_file):
    model = model_file(QDY30A)
    sensors = [line_sensor(f"p{addr}", model, addr) for addr in TRANSMITTERS]
    with NullModem() as modem, \
            QuirkPeer(modem.b.path, {a: Slave(holding={2: list(regs)})
                                     for a, regs in TRANSMITTERS.items()}) as peer, \
            Subscriber(services, f"quantrac/v1/{STATION}/data") as sub:
        fw = launch(station_config(services, STATION, {"rs485": modem.a.path}, sensors))
        msgs, got = wait_records(sub, fw.wait_log(BOOT).group(1), 2)
        for _t, payload, _r in msgs:
            validator("data")(json.loads(payload))
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
