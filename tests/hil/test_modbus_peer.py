"""minimalmodbus, a Modbus master nobody here wrote, reads every simulated transmitter over a pty.

Each test pins values on the simulator, reads them back through minimalmodbus's own decoding
(byte orders, signed, decimals) and expects the pinned numbers: if our encoding and an
independent decoder disagree about a type or word order, a test here fails.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import minimalmodbus
import pytest
import serial

import boards
from hil import modbus_rtu as rtu
from hil.bus import ModbusBus
from hil.modbus_slave import ModbusSlave
from hil.ports import PtyPort

ORDERS = {"ABCD": minimalmodbus.BYTEORDER_BIG, "CDAB": minimalmodbus.BYTEORDER_LITTLE_SWAP,
          "BADC": minimalmodbus.BYTEORDER_BIG_SWAP, "DCBA": minimalmodbus.BYTEORDER_LITTLE}

# Values a person would see on the display, chosen so 32-bit integers use their high word and
# 16-bit signed values go negative.
PINS = {
    "qt-gas4-ec": {"so2": 12.5, "co": 1.25, "no2": 33.7, "o3": 48.2},
    "qt-thp-485": {"temp": -5.3, "rh": 77.4, "pressure": 1008.6},
    "qt-dust-tsp": {"tsp": 8765.4},
    "qt-nh4-ise": {"nh4": 71.234},
    "qt-ph-485": {"ph": 7.85, "temp": 29.47},
    "qt-do-opt": {"do": 6.83},
    "qt-tss-485": {"tss": 37.5},
    "yosemitech-y511": {"turbidity": 0.75},
    "qt-cl2-485": {"chlorine": 0.45},
    "qt-cod-uv": {"cod": 48.25},
    "qt-flow-em": {"flow": 86.5},
    "qt-ec-485": {"conductivity": 51.234, "salinity": 33.41},
    "yosemitech-y560": {"temp": 25.0, "ph": 7.0, "nh4": 1.5},
    "yosemitech-y504": {"do": 8.25},
    "aqualabo-optod": {"do": 7.5},
    "aqualabo-pheht": {"temp": 21.5, "ph": 7.25},
    "aqualabo-ntu": {"turbidity": 3.5},
    "jxct-jxbs-3001-ph": {"temp": 28.5, "ph": 7.12},
    "vaisala-hmp110": {"rh": 30.5, "temp": 28.25},
    "xy-md02": {"temp": -20.5, "rh": 54.6},
    "kincony-sht30": {"temp": 21.5, "rh": 65.5},
    "dfrobot-sen0662": {"pm1": 12.5, "pm2_5": 20.0, "pm10": 32.0},
    "jxct-jxbs-3001-pm": {"pm2_5": 35, "pm10": 51},
    "ra-gas-sensor-mb-nap5xx": {"co": 12, "no2": 3000},
    "greystone-cmd5b4": {"co": 17},
    "jxct-jxbs-3001-co": {"co": 18.9},
    "jxct-jxbs-3001-o3": {"o3": 1890},
    # a sound meter has one level register; its six channels (the station's statistics of
    # the levels) all read it
    "qt-sound-485": {"laeq": 72.4},
}

# Every register type in every word order, plus an offset, beyond what the catalog uses today.
BENCH_MODEL = {
    "model": "bench-all-types", "bus": "modbus",
    "serial": {"baud": 9600, "bits": 8, "parity": "N", "stop": 1},
    "modbus": {"default_address": 7, "function": 3, "timeout_ms": 250, "turnaround_ms": 100},
    "channels": [
        *({"param": f"{t[:1]}{t[-2:]}_{o.lower()}", "unit": "mg/L", "register": 2 * i + 10 * j,
           "type": t, "order": o, "range": [-1e6, 1e6]}
          for j, t in enumerate(("int32", "uint32", "float32")) for i, o in enumerate(ORDERS)),
        {"param": "i16_off", "unit": "degC", "register": 40, "type": "int16", "scale": 0.01,
         "offset": -50, "range": [-50, 100]},
        {"param": "u16", "unit": "%", "register": 41, "type": "uint16", "range": [0, 65535]},
    ],
}
BENCH_PINS = {ch["param"]: (-123456 if ch["type"] == "int32" else 98765.25
                            if ch["type"] == "float32" else 123456)
              for ch in BENCH_MODEL["channels"] if "order" in ch}
BENCH_PINS.update({"i16_off": -12.34, "u16": 54321})


@contextmanager
def line(*slaves: ModbusSlave):
    """A pty RS-485 line with slaves on it and a minimalmodbus master on the other end."""
    port = PtyPort()
    bus = ModbusBus(port, slaves)
    bus.start()
    master = minimalmodbus.Instrument(port.path, slaves[0].address,
                                      close_port_after_each_call=False)
    master.serial.baudrate = 9600
    master.serial.timeout = 0.5
    try:
        yield master
    finally:
        master.serial.close()
        bus.stop()
        port.close()


def read_channel(master: minimalmodbus.Instrument, ch: dict, fn: int) -> float:
    """A channel's engineering value as a master configured from the catalog would read it."""
    reg, kind = ch["register"], ch["type"]
    if kind == "float32":
        raw = master.read_float(reg, fn, 2, ORDERS[ch["order"]])
    elif kind in ("int32", "uint32"):
        raw = master.read_long(reg, fn, kind == "int32", ORDERS[ch["order"]])
    else:
        decimals = master.read_register(ch["decimals_register"], 0, fn) \
            if "decimals_register" in ch else 0
        raw = master.read_register(reg, decimals, fn, kind == "int16")
    return raw * ch.get("scale", 1) + ch.get("offset", 0)


def start(master: minimalmodbus.Instrument, spec: dict) -> None:
    """The model's start/trigger actions, as a station sends them before reading."""
    for a in spec["modbus"].get("before_read", []):
        if a["function"] == 16:
            master.write_registers(a["register"], a["values"])
        else:  # a read of 0 registers, which minimalmodbus refuses to build
            master.serial.write(rtu.read_request(master.address, a["function"],
                                                 a["register"], a.get("count", 0)))
            assert master.serial.read(5) == rtu.read_reply(master.address, a["function"], [])
        time.sleep(a.get("wait_ms", 0) / 1000)


def resolution(ch: dict, slave: ModbusSlave) -> float:
    if ch["type"] == "float32":
        return 0.0
    return ch.get("scale", 1) / 10 ** slave.decimals.get(ch["param"], 0)


@pytest.mark.parametrize("name", sorted(m for m, s in boards.catalog().items()
                                        if s["bus"] == "modbus"))
def test_every_catalog_model_reports_its_pinned_values(name):
    spec = boards.catalog()[name]
    level = spec["channels"][0]["param"]
    expect = {ch["param"]: PINS[name][level] if "sound" in spec else PINS[name].get(ch["param"])
              for ch in spec["channels"]}
    assert set(PINS[name]) == ({level} if "sound" in spec else set(expect)), "pin every channel"
    slave = ModbusSlave(spec, spec["modbus"]["default_address"])
    for param, v in PINS[name].items():
        slave.pin(param, v)
    with line(slave) as master:
        start(master, spec)
        for ch in spec["channels"]:
            # a manual's 4xxxx numbers go on the wire as PDU addresses (modbus.numbering)
            pdu = {**ch, "register": ch["register"] - spec["modbus"].get("numbering", 0)}
            got = read_channel(master, pdu, spec["modbus"]["function"])
            step = resolution(ch, slave)
            assert got == pytest.approx(expect[ch["param"]], rel=1e-6, abs=step / 2 + 1e-9), \
                f"{name} {ch['param']} ({ch['type']} {ch.get('order', '')})"


def test_every_type_and_word_order_with_scale_and_offset():
    slave = ModbusSlave(BENCH_MODEL, 7)
    for param, v in BENCH_PINS.items():
        slave.pin(param, v)
    with line(slave) as master:
        for ch in BENCH_MODEL["channels"]:
            got = read_channel(master, ch, 3)
            assert got == pytest.approx(BENCH_PINS[ch["param"]], rel=1e-7), ch["param"]


def test_unpinned_values_follow_the_source_inside_the_catalog_range():
    spec = boards.catalog()["qt-thp-485"]
    live = {"temp": 31.2, "rh": 140.0, "pressure": 1009.9}  # rh above its 0..100 range
    slave = ModbusSlave(spec, 2, source=live.__getitem__)
    with line(slave) as master:
        got = {ch["param"]: read_channel(master, ch, 4) for ch in spec["channels"]}
        live["temp"] = 25.0
        later = read_channel(master, spec["channels"][0], 4)
    assert got == pytest.approx({"temp": 31.2, "rh": 100.0, "pressure": 1009.9})
    assert later == pytest.approx(25.0)


def test_the_decimal_point_register_moves_the_point_when_written():
    spec = boards.catalog()["qt-ph-485"]
    slave = ModbusSlave(spec, 1)
    slave.pin("ph", 7.42)
    with line(slave) as master:
        assert master.read_register(1, 0, 3) == 2
        assert master.read_register(0, 0, 3) == 742
        master.write_register(1, 1, 0, functioncode=6)
        assert master.read_register(1, 0, 3) == 1
        assert master.read_register(0, 1, 3) == pytest.approx(7.4)
        with pytest.raises(minimalmodbus.IllegalRequestError, match="illegal data value"):
            master.write_register(1, 9, 0, functioncode=6)
        with pytest.raises(minimalmodbus.IllegalRequestError, match="illegal data address"):
            master.write_register(0, 800, 0, functioncode=6)  # measurements are read-only


def test_several_slaves_share_one_line_and_an_absent_address_times_out():
    cat = boards.catalog()
    gas, thp = ModbusSlave(cat["qt-gas4-ec"], 1), ModbusSlave(cat["qt-thp-485"], 2)
    gas.pin("no2", 21.5)
    thp.pin("rh", 66.6)
    with line(gas, thp) as master:
        assert master.read_float(4, 3, 2, ORDERS["CDAB"]) == pytest.approx(21.5)
        master.address = 2
        assert master.read_register(1, 1, 4) == pytest.approx(66.6)
        master.address = 9
        master.serial.timeout = 0.3
        with pytest.raises(minimalmodbus.NoResponseError):
            master.read_register(0, 0, 3)
        master.address = 1  # the line still works after a request nobody answered
        assert master.read_float(4, 3, 2, ORDERS["CDAB"]) == pytest.approx(21.5)


def raw_exchange(port_path: str, frame: bytes, wait_s: float = 0.4) -> bytes:
    with serial.Serial(port_path, 9600, timeout=wait_s) as s:
        s.reset_input_buffer()
        s.write(frame)
        return s.read(64)


def test_a_bad_crc_gets_silence_and_the_next_good_request_an_answer():
    slave = ModbusSlave(boards.catalog()["qt-tss-485"], 3)
    slave.pin("tss", 37.5)
    body = bytes([3, 4, 0, 0, 0, 2])
    good = body + minimalmodbus._calculate_crc(body)
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    with line(slave) as master:
        port = master.serial.port
        assert raw_exchange(port, bad) == b""
        reply = raw_exchange(port, good)
        assert reply[:3] == bytes([3, 4, 4]) and len(reply) == 9
        assert minimalmodbus._calculate_crc(reply[:-2]) == reply[-2:]
        assert master.read_float(0, 4, 2, ORDERS["DCBA"]) == pytest.approx(37.5)


def test_a_stray_byte_before_the_request_is_skipped():
    slave = ModbusSlave(boards.catalog()["qt-do-opt"], 2)
    slave.pin("do", 6.5)
    body = bytes([2, 3, 0, 0, 0, 2])
    with line(slave) as master:
        stray = b"\x00"  # what some transceivers emit when DE/RE switches
        reply = raw_exchange(master.serial.port, stray + body + minimalmodbus._calculate_crc(body))
    assert reply[:3] == bytes([2, 3, 4]) and minimalmodbus._calculate_crc(reply[:-2]) == reply[-2:]


def test_unknown_function_wrong_read_function_and_gaps_get_exception_replies():
    slave = ModbusSlave(boards.catalog()["qt-dust-tsp"], 3)
    body = bytes([3, 0x11])  # report server id: not supported
    with line(slave) as master:
        reply = raw_exchange(master.serial.port, body + minimalmodbus._calculate_crc(body))
        assert reply == bytes([3, 0x91, 1]) + minimalmodbus._calculate_crc(bytes([3, 0x91, 1]))
        with pytest.raises(minimalmodbus.IllegalRequestError, match="illegal function"):
            master.read_long(16, 4)  # the catalog says function 3
        with pytest.raises(minimalmodbus.IllegalRequestError, match="illegal data address"):
            master.read_registers(0, 2, 3)  # nothing mapped at 0
        with pytest.raises(minimalmodbus.IllegalRequestError, match="illegal data address"):
            master.read_registers(16, 3, 3)  # runs past the last register
        assert slave.exceptions == 4


def test_pinning_a_value_the_register_cannot_carry_is_refused():
    slave = ModbusSlave(boards.catalog()["qt-thp-485"], 2)
    with pytest.raises(ValueError, match="pressure"):
        slave.pin("pressure", 7000)  # 70000 raw does not fit uint16
    with pytest.raises(KeyError, match="no channel 'co2'"):
        slave.pin("co2", 400)

