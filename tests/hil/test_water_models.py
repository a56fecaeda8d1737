"""The water-quality catalog models the regulations need, against the register maps they copy
(sensor-maps.md) and the signals the simulators play for each kind of water."""

from __future__ import annotations

import pytest

import boards
from hil import signals
from hil.modbus_slave import ModbusSlave

DAY = 1763744400  # 2025-11-22 00:00 local (UTC+7)


def test_the_y511_answers_turbidity_at_0x2602_in_yosemitech_byte_order():
    """sensor-maps.md §6.1's test vector: Yosemitech 25.0 goes out as bytes 00 00 C8 41."""
    spec = boards.catalog()["yosemitech-y511"]
    slave = ModbusSlave(spec, 1)
    slave.pin("turbidity", 25.0)
    assert slave.registers(0x2602, 3)[2] == 0x0100  # its error byte until it is started
    slave.start()
    words = slave.registers(0x2602, 2)
    assert b"".join(w.to_bytes(2, "big") for w in words) == bytes.fromhex("0000C841")
    assert spec["modbus"]["function"] == 3 and spec["serial"]["baud"] == 9600


@pytest.mark.parametrize("kind, params", [
    ("tap_water", {"turbidity": "NTU", "chlorine": "mg/L"}),
    ("wastewater", {"cod": "mg/L", "flow": "m3/h"}),
    ("sea_water", {"conductivity": "mS/cm", "salinity": "PSU"}),
])
def test_each_kind_of_water_station_measures_what_its_regulation_needs(kind, params):
    for s in boards.registry().stations:
        if s.kind == kind:
            assert {p: s.params()[p] for p in params} == params, s.id


@pytest.mark.parametrize("medium, param, low, high", [
    ("tap", "turbidity", 0.05, 2.0),       # QCVN 01-1:2018: at most 2 NTU
    ("tap", "chlorine", 0.2, 1.0),         # QCVN 01-1:2018: 0.2-1.0 mg/L free chlorine
    ("wastewater", "cod", 10.0, 75.0),     # below QCVN 40:2011 column A's 75 mg/L
    ("wastewater", "flow", 10.0, 150.0),
    ("sea", "salinity", 28.0, 35.0),
    ("sea", "conductivity", 42.0, 54.0),
])
def test_a_fault_free_day_stays_inside_the_limits_and_moves(medium, param, low, high):
    day = [signals.value(param, DAY + i * 300, seed=s, medium=medium)
           for s in range(4) for i in range(288 * 2)]
    assert low <= min(day) and max(day) <= high
    assert max(day) - min(day) > 0.05 * (high - low)  # a signal, not a flat line (QC)


def test_the_y511_simulator_shows_its_error_code_in_the_high_byte_of_0x2604():
    slave = ModbusSlave(boards.catalog()["yosemitech-y511"], 1)
    slave.pin("turbidity", 0.5)
    slave.start()
    assert slave.registers(0x2602, 3)[2] == 0x0000
    slave.set_error("turbidity", 3)
    assert slave.registers(0x2602, 3)[2] == 0x0300
    with pytest.raises(ValueError, match="does not fit mask 0xff00"):
        slave.set_error("turbidity", 256)
    slave.set_error("turbidity", 0)
    assert slave.registers(0x2602, 3)[2] == 0x0000


def test_the_loader_names_a_bad_error_register(tmp_path):
    good = boards.catalog()["yosemitech-y511"]
    for change, says in (({"error_mask": 0}, "error_mask: 0 is not 1..65535"),
                         ({"error_register": -1}, "error_register: -1 is not 0..65535")):
        ch = {**good["channels"][0], **change}
        with pytest.raises(boards.BoardsError, match=says):
            boards._check_model({**good, "channels": [ch]}, "boards/catalog/x.json")
    ch = {k: v for k, v in good["channels"][0].items() if k != "error_register"}
    with pytest.raises(boards.BoardsError, match="error_mask: needs an error_register"):
        boards._check_model({**good, "channels": [ch]}, "boards/catalog/x.json")
