"""Vendor address and baud procedures as catalog data (`modbus.setup`, sensor-maps.md §6.4):
what the loader refuses, naming the file and the key, and the writes a procedure turns into."""

from __future__ import annotations

import copy

import pytest

import boards
from boards import setup_procedure

WHERE = "boards/catalog/x.json"
MODEL = {
    "model": "x", "bus": "modbus",
    "serial": {"baud": 9600, "bits": 8, "parity": "N", "stop": 1},
    "modbus": {"default_address": 1, "function": 3, "timeout_ms": 250, "turnaround_ms": 100},
    "channels": [{"param": "ph", "unit": "pH", "register": 0, "type": "uint16",
                  "range": [0, 14]}],
}


def with_setup(setup: dict, **modbus: object) -> dict:
    m = copy.deepcopy(MODEL)
    m["modbus"].update(setup=setup, **modbus)
    return m


@pytest.mark.parametrize("setup, says", [
    ({"function": 3, "address": {"register": 1}}, r"modbus.setup.function: 3 is not 6 or 16"),
    ({"broadcast": 0}, r"modbus.setup: names an address or a baud procedure"),
    ({"address": {"register": 70000}}, r"modbus.setup.address.register: 70000 is not a "
                                       r"register 0..65535"),
    ({"address": {"register": 1, "byte": "low"}},
     r"modbus.setup.address.byte: 'low' is not one of word, high"),
    ({"baud": {"register": 2}}, r"modbus.setup.baud: gives either codes"),
    ({"baud": {"register": 2, "codes": {"fast": 1}}},
     r"modbus.setup.baud.codes: \{'fast': 1\} is not a table of baud rate"),
    ({"baud": {"register": 2, "divisor": 0}}, r"modbus.setup.baud.divisor: 0 is not 1..100000"),
    ({"address": {"register": 1}, "save": [{"register": 15}]},
     r"modbus.setup.save\[0\].value: None is not a register word"),
    ({"address": {"register": 1}, "broadcast": 100},
     r"modbus.setup.broadcast: 100 is not 0 or a vendor broadcast address 248..255"),
    ({"address": {"register": 1}, "takes_effect": "later"},
     r"modbus.setup.takes_effect: 'later' is not one of write, save, restart"),
    ({"address": {"register": 1}, "takes_effect": "save"},
     r"modbus.setup.takes_effect: 'save' needs the save writes"),
    ({"address": {"register": 1}, "unlock_code": 9876}, r"modbus.setup.unlock_code: unknown key"),
])
def test_a_bad_procedure_is_named_at_load(setup, says):
    with pytest.raises(boards.BoardsError, match=r"x\.json: " + says):
        boards._check_model(with_setup(setup), WHERE)


def test_the_old_address_register_key_is_refused_with_where_it_went():
    m = copy.deepcopy(MODEL)
    m["modbus"]["address_register"] = 256
    with pytest.raises(boards.BoardsError, match=r"modbus.address_register: is "
                                                 r"modbus.setup.address.register now"):
        boards._check_model(m, WHERE)


def test_procedures_become_writes_in_order_with_manual_numbers_converted():
    m = with_setup({"function": 16, "address": {"register": 40257, "byte": "high"},
                    "baud": {"register": 40258, "codes": {"9600": 3, "19200": 4}},
                    "unlock": [{"register": 40080, "value": 9876}],
                    "save": [{"register": 40016, "value": 1}]}, numbering=40001)
    m["channels"][0]["register"] = 40001
    boards._check_model(m, WHERE)
    assert [(w.what, w.function, w.register, w.value)
            for w in setup_procedure.plan(m, 21, 19200)] == [
        ("unlock", 16, 79, 9876), ("address", 16, 256, 21 << 8), ("baud", 16, 257, 4),
        ("save", 16, 15, 1)]
    literal = with_setup({"baud": {"register": 2, "divisor": 100}})
    assert [w.value for w in setup_procedure.plan(literal, baud=9600)] == [96]
    with pytest.raises(boards.BoardsError, match="115250 baud cannot be written as rate / 100"):
        setup_procedure.plan(literal, baud=115250)
    with pytest.raises(boards.BoardsError, match="address 0 is not 1..247"):
        setup_procedure.plan(with_setup({"address": {"register": 1}}), 0)


def test_the_catalog_holds_the_procedures_of_the_reference():
    cat = boards.catalog()
    y = cat["yosemitech-y511"]["modbus"]["setup"]
    assert (y["function"], y["address"]) == (16, {"register": 0x3000, "byte": "high"})
    ra = cat["ra-gas-sensor-mb-nap5xx"]["modbus"]["setup"]
    assert ra["unlock"] == [{"register": 79, "value": 9876}] and ra["baud"]["codes"] == \
        {"2400": 0, "9600": 1, "19200": 2, "38400": 3}
    assert cat["xy-md02"]["modbus"]["setup"]["baud"] == {"register": 0x0102, "divisor": 1}
    assert setup_procedure.takes_effect(cat["xy-md02"]) == "restart"
    assert "setup" not in cat["greystone-cmd5b4"]["modbus"]  # set from its LCD menu
