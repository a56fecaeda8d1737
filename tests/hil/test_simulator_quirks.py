"""The simulators are generated from the catalog files, quirks included (sensor-maps.md §6):
start and trigger actions before a measurement, silence on unmapped registers, one function
per block, sign encodings, sentinels, and the makers' address and baud procedures followed by
`quantrac sensor set-address` over a pty. No code per model: each behaviour comes from the
model's catalog keys."""

from __future__ import annotations

import math
import struct
import time

import pytest
from click.testing import CliRunner

import boards
from hil import modbus_rtu as rtu
from hil.bus import ModbusBus
from hil.faults import FaultSet, make
from hil.modbus_slave import ModbusSlave, encode
from hil.ports import PtyPort
from quantrac.cli import main


def slave(model: str, address: int | None = None, **pins: float) -> ModbusSlave:
    spec = boards.catalog()[model]
    s = ModbusSlave(spec, address or spec["modbus"]["default_address"])
    for param, v in pins.items():
        s.pin(param, v)
    return s


def ask(s: ModbusSlave, fn: int, register: int, count: int) -> bytes | None:
    return s.handle(rtu.parse_request(rtu.read_request(s.address, fn, register, count)))


def write16(s: ModbusSlave, register: int, values: list[int]) -> bytes | None:
    body = struct.pack(f">BBHHB{len(values)}H", s.address, 16, register, len(values),
                       2 * len(values), *values)
    return s.handle(rtu.parse_request(rtu.with_crc(body)))


def words(reply: bytes | None) -> list[int]:
    assert reply is not None and not reply[1] & 0x80, reply
    return list(struct.unpack(f">{reply[2] // 2}H", reply[3:-2]))


def test_a_read_of_0_registers_starts_the_yosemitech_and_gets_an_empty_reply():
    y504 = slave("yosemitech-y504", 3, do=8.25)
    assert words(ask(y504, 3, 0x2604, 2)) == [0x0000, 0xC07F]  # NaN DCBA before the start
    assert ask(y504, 3, 0x2500, 0) == rtu.read_reply(3, 3, [])  # 03 03 00 and a CRC
    assert words(ask(y504, 3, 0x2604, 2)) == [0x0000, 0x0441]  # 8.25 = 00 00 04 41
    y504.power_cycle()
    assert words(ask(y504, 3, 0x2604, 2)) == [0x0000, 0xC07F]  # to be started again


def test_an_fc16_trigger_and_its_wait_come_before_the_optod_measures():
    optod = slave("aqualabo-optod", do=7.5)
    trigger = boards.catalog()["aqualabo-optod"]["modbus"]["before_read"][0]
    reg = next(ch["register"] for ch in optod.model["channels"] if ch["param"] == "do")
    assert math.isnan(struct.unpack(">f", struct.pack(">HH", *words(ask(optod, 3, reg, 2))))[0])
    assert write16(optod, trigger["register"], trigger["values"]) == rtu.with_crc(
        struct.pack(">BBHH", 10, 16, trigger["register"], len(trigger["values"])))
    time.sleep(trigger["wait_ms"] / 1000)  # the measurement time the catalog gives
    assert struct.unpack(">f", struct.pack(">HH", *words(ask(optod, 3, reg, 2))))[0] == 7.5


def test_the_y560_gives_no_answer_outside_its_blocks_a_generic_model_an_exception():
    y560 = slave("yosemitech-y560", 1, ph=7.0)
    assert ask(y560, 3, 0x2500, 2) is None  # between its blocks: silence
    assert words(ask(y560, 3, 0x2602, 2)) == [0x0000, 0xE040]  # pH 7.00 DCBA
    ph = slave("qt-ph-485", 1)
    assert ask(ph, 3, 500, 2) == rtu.exception_reply(1, 3, rtu.ILLEGAL_DATA_ADDRESS)


def test_input_registers_are_not_read_with_the_holding_function():
    ra = slave("ra-gas-sensor-mb-nap5xx", 1, co=12, no2=3000)
    assert ask(ra, 3, 2, 7) == rtu.exception_reply(1, 3, rtu.ILLEGAL_FUNCTION)
    # one read over registers the manual lists for something not read here (3, 4, 7)
    assert words(ask(ra, 4, 2, 7)) == [12, 0, 0, 0, 3, 0, 0]


@pytest.mark.parametrize("channel, value, raw", [
    ({"type": "uint16", "sign": "offset", "negative_from": 10000, "scale": 0.1}, -25.0, 10250),
    ({"type": "uint16", "sign": "offset", "negative_from": 10000, "scale": 0.1}, 21.5, 215),
    ({"type": "int16", "sign": "magnitude", "scale": 0.1}, -20.5, 0x80CD),
    ({"type": "int16", "scale": 0.1}, -20.5, 0xFF33),
])
def test_sign_encodings_are_the_datasheets_words(channel, value, raw):
    assert encode({"param": "t", **channel}, value) == [raw]


def test_the_unavailable_fault_sends_each_channel_s_own_no_value_word():
    clock = [0.0]
    for model, param, reg, count, expect in (
            ("vaisala-hmp110", "rh", 0, 2, [0x0000, 0x7FC0]),        # NaN, CDAB
            ("ra-gas-sensor-mb-nap5xx", "no2", 6, 3, [0, 0, 0x0001]),  # its error bit
    ):
        s = slave(model, 1)
        s.start()
        s.faults = FaultSet(lambda: clock[0])
        s.faults.add(make("unavailable", 0, 10, param=param))
        fn = boards.catalog()[model]["modbus"]["function"]
        assert words(ask(s, fn, reg, count))[-len(expect):] == expect, model


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_set_address_follows_each_maker_s_procedure_on_the_simulators():
    y511 = slave("yosemitech-y511", 1, turbidity=0.75)
    ra = slave("ra-gas-sensor-mb-nap5xx", 11, co=12, no2=3000)
    xy = slave("xy-md02", 15, temp=-20.5, rh=54.6)
    with PtyPort() as port, ModbusBus(port, [y511, ra, xy]):
        # FC06 is refused by a Yosemitech; the procedure's FC16 with the ID in the high byte
        fc06 = rtu.with_crc(struct.pack(">BBHH", 1, 6, 0x3000, 21 << 8))
        assert y511.handle(rtu.parse_request(fc06)) == rtu.exception_reply(1, 6, 1)
        res = run("sensor", "set-address", "--port", port.path, "--model", "yosemitech-y511",
                  "--from", 1, "--to", 21)
        assert res.exit_code == 0 and "turbidity      0.75 NTU" in res.output, res.output
        assert y511.address == 21
        # the RA-GAS refuses its address until unlocked; the procedure unlocks first
        raw = rtu.with_crc(struct.pack(">BBHH", 11, 6, 80, 22))
        assert ra.handle(rtu.parse_request(raw)) == rtu.exception_reply(11, 6, 4)
        res = run("sensor", "set-address", "--port", port.path, "--model",
                  "ra-gas-sensor-mb-nap5xx", "--from", 11, "--to", 22, "--set-baud", 19200)
        assert res.exit_code == 0, res.output
        assert (ra.address, ra.setup.baud) == (22, 19200)
        # the XY-MD02 takes its new address and speed at the next power-up
        res = run("sensor", "set-address", "--port", port.path, "--model", "xy-md02",
                  "--from", 15, "--to", 23, "--set-baud", 4800)
        assert res.exit_code == 0 and "after a power cycle" in res.output, res.output
        assert xy.address == 15
        xy.power_cycle()
        assert (xy.address, xy.setup.baud) == (23, 4800)


def test_a_lone_sensor_takes_its_address_by_broadcast():
    thp = slave("qt-thp-485", 9, temp=-5.3, rh=77.4, pressure=1008.6)
    with PtyPort() as port, ModbusBus(port, [thp]):
        res = run("sensor", "set-address", "--port", port.path, "--model", "qt-thp-485",
                  "--to", 17)
        assert res.exit_code == 0 and "now at address 17" in res.output, res.output
        assert thp.address == 17
