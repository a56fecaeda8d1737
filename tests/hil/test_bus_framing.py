"""How the simulated line cuts a master's bytes into requests: by length, by silence, by CRC.

Frames are built with minimalmodbus's CRC (not ours) and written through pyserial, as a
station's UART would put them on the wire: split, preceded by noise, or garbled.
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


def frame(*body: int) -> bytes:
    return bytes(body) + minimalmodbus._calculate_crc(bytes(body))


@contextmanager
def wire(*slaves: ModbusSlave):
    port = PtyPort()
    bus = ModbusBus(port, slaves)
    bus.start()
    master = serial.Serial(port.path, 9600, timeout=0.5)
    try:
        yield master, bus
    finally:
        master.close()
        bus.stop()
        port.close()


@pytest.fixture
def thp():
    slave = ModbusSlave(boards.catalog()["qt-thp-485"], 2)
    slave.pin("temp", 27.3)
    return slave


def test_crc_matches_an_independent_implementation():
    for body in (b"\x01\x03\x00\x00\x00\x01", bytes(range(40)), b"\xff" * 7):
        ours = rtu.with_crc(body)[-2:]
        assert ours == minimalmodbus._calculate_crc(body)
    assert rtu.crc16(b"\x01\x03\x00\x00\x00\x01") == 0x0A84  # the classic example frame


def test_a_request_written_in_pieces_is_answered_once(thp):
    req = frame(2, 4, 0, 0, 0, 1)
    with wire(thp) as (master, bus):
        for _ in range(5):
            t = time.monotonic()
            master.write(req[:3])
            time.sleep(0.003)
            master.write(req[3:])
            late = time.monotonic() - t > 0.0038  # 3.5 characters at 9600 baud: 4.0 ms
            reply = master.read(7)
            if reply or not late:
                break
            # a loaded machine stretched the pause past 3.5 characters: two frames, rightly
            # not answered; try again
        assert reply == frame(2, 4, 2, 0x01, 0x11)  # 273 = 27.3 °C × 10
        assert master.read(1) == b"" and bus.stats["replies"] == 1


def test_noise_then_silence_then_a_request_gets_an_answer(thp):
    with wire(thp) as (master, bus):
        master.write(b"\x00\xff\x10\x33\x99\x07\x55")  # noise ending in an unknown function
        time.sleep(0.1)
        master.write(frame(2, 4, 0, 0, 0, 1))
        assert master.read(7) == frame(2, 4, 2, 0x01, 0x11)
        assert bus.stats["dropped_bytes"] >= 1


def test_back_to_back_requests_to_two_slaves_are_both_answered(thp):
    gas = ModbusSlave(boards.catalog()["qt-gas4-ec"], 1)
    gas.pin("so2", 1.0)  # float32 1.0 = 0x3F800000, CDAB on the wire: 0000 3F80
    with wire(thp, gas) as (master, _):
        master.write(frame(2, 4, 0, 0, 0, 1) + frame(1, 3, 0, 0, 0, 2))
        assert master.read(7) == frame(2, 4, 2, 0x01, 0x11)
        assert master.read(9) == frame(1, 3, 4, 0x00, 0x00, 0x3F, 0x80)


def test_a_broadcast_write_is_obeyed_and_never_answered():
    ph = ModbusSlave(boards.catalog()["qt-ph-485"], 1)
    ph.pin("ph", 7.0)
    with wire(ph) as (master, _):
        master.write(frame(0, 6, 0, 1, 0, 0))  # decimals of pH -> 0, to everyone
        assert master.read(1) == b""
        master.write(frame(1, 3, 0, 0, 0, 2))
        assert master.read(9) == frame(1, 3, 4, 0, 7, 0, 0)


def test_a_channel_with_no_signal_and_no_pin_reports_device_failure():
    model = {**boards.catalog()["qt-do-opt"], "channels": [
        {"param": "chla", "unit": "ug/L", "register": 0, "type": "float32", "order": "ABCD",
         "range": [0, 500]}]}
    slave = ModbusSlave(model, 5)
    with wire(slave) as (master, _):
        master.write(frame(5, 3, 0, 0, 0, 2))
        assert master.read(5) == frame(5, 0x83, rtu.SLAVE_DEVICE_FAILURE)
        slave.pin("chla", 2.5)
        master.write(frame(5, 3, 0, 0, 0, 2))
        assert master.read(9) == frame(5, 3, 4, 0x40, 0x20, 0, 0)


def test_one_address_per_line():
    cat = boards.catalog()
    with PtyPort() as port, pytest.raises(ValueError, match="address 2 .* is taken"):
        ModbusBus(port, [ModbusSlave(cat["qt-thp-485"], 2), ModbusSlave(cat["qt-do-opt"], 2)])
