"""Field faults as a master on the other end of the wire sees them.

Wire faults are read through minimalmodbus (a master nobody here wrote) over a pty, so "a bad
CRC", "the wrong slave id" or "no answer" are what an independent implementation reports, not
what our own parser thinks. Value faults are read off the simulators under a hand-driven
station clock. Stream faults are checked with the datasheet parsers of test_pm_stream.
"""

from __future__ import annotations

import os
import select
import time
from contextlib import contextmanager

import minimalmodbus
import pytest

import boards
from hil import faults
from hil.bus import ModbusBus
from hil.faults import FaultSet, frame_ok
from hil.modbus_slave import ModbusSlave
from hil.pm_stream import PmStream
from hil.ports import PtyPort

T0 = 1748815200.0  # 2025-06-02 05:00 +07:00
GAS = boards.catalog()["qt-gas4-ec"]
THP = boards.catalog()["qt-thp-485"]


class Clock:
    """A station clock the test moves by hand."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@contextmanager
def line(*slaves: ModbusSlave, timeout: float = 0.5):
    port = PtyPort()
    bus = ModbusBus(port, slaves)
    bus.start()
    master = minimalmodbus.Instrument(port.path, slaves[0].address,
                                      close_port_after_each_call=False)
    master.serial.timeout = timeout
    try:
        yield master, bus
    finally:
        master.serial.close()
        bus.stop()
        port.close()


def gas_with(*fs: faults.Fault, clock: Clock | None = None) -> ModbusSlave:
    slave = ModbusSlave(GAS, 1, source=lambda p: 10.0)
    slave.pin("so2", 12.5)
    slave.faults = FaultSet(clock or Clock(), seed=1)
    for f in fs:
        slave.faults.add(f)
    return slave


def so2(master: minimalmodbus.Instrument) -> float:
    return master.read_float(0, 3, 2, minimalmodbus.BYTEORDER_LITTLE_SWAP)


def window(kind: str, **given) -> faults.Fault:
    return faults.make(kind, T0 - 10, T0 + 3600, **given)


@pytest.mark.parametrize("fault, error", [
    (window("crc"), minimalmodbus.InvalidResponseError),
    (window("garble", bytes=3), minimalmodbus.InvalidResponseError),
    (window("truncate"), minimalmodbus.InvalidResponseError),
    (window("wrong_id", address=7), minimalmodbus.InvalidResponseError),
    (window("silence"), minimalmodbus.NoResponseError),
    (window("unplug"), minimalmodbus.NoResponseError),
])
def test_an_independent_master_rejects_every_broken_reply(fault, error):
    slave = gas_with(fault)
    with line(slave, timeout=0.3) as (master, _), pytest.raises(error):
        so2(master)
    assert slave.faults.applied[fault] >= 1


def test_outside_its_window_a_fault_does_nothing():
    clock = Clock(T0 - 3600)
    fault = window("crc")
    slave = gas_with(fault, clock=clock)
    with line(slave) as (master, _):
        assert so2(master) == pytest.approx(12.5)
        clock.t = T0
        with pytest.raises(minimalmodbus.InvalidResponseError):
            so2(master)
        clock.t = T0 + 7200
        assert so2(master) == pytest.approx(12.5)


def test_a_wrong_id_reply_is_a_good_frame_from_another_address():
    fs = FaultSet(Clock(), seed=0)
    fs.add(window("wrong_id", address=7))
    request_reply = ModbusSlave(THP, 2, source=lambda p: 50.0).registers(0, 3)
    from hil import modbus_rtu as rtu

    _, out = fs.wire(rtu.read_reply(2, 4, request_reply))
    assert out is not None and out[0] == 7 and frame_ok(out, "modbus")


def test_a_probability_hits_some_replies_and_repeats_with_the_seed():
    def pattern(seed: int) -> list[bool]:
        fs = FaultSet(Clock(), seed=seed)
        fs.add(window("silence", p=0.5))
        return [fs.wire(b"\x01\x03\x02\x00\x01\x79\x84")[1] is None for _ in range(200)]

    hits = pattern(3)
    assert 60 < sum(hits) < 140
    assert pattern(3) == hits and pattern(4) != hits


def test_a_slow_slave_answers_late_and_does_not_hold_up_the_line():
    slow = ModbusSlave(THP, 2, source=lambda p: 50.0)
    slow.faults = FaultSet(Clock(), seed=0)
    slow.faults.add(window("slow", delay_s=1.0))
    quick = gas_with()
    with line(quick, slow, timeout=0.4) as (master, bus):
        master.address = 2
        with pytest.raises(minimalmodbus.NoResponseError):
            master.read_register(1, 1, 4)
        master.address = 1  # the other slave answers while the slow one is still "busy"
        assert so2(master) == pytest.approx(12.5)
        master.address = 2
        master.serial.timeout = 3.0
        # the late reply to the first request went out meanwhile or is dropped for this one;
        # either way a patient master gets an answer
        master.serial.reset_input_buffer()
        assert master.read_register(1, 1, 4) == pytest.approx(50.0)


def test_a_new_request_cancels_the_late_reply_to_the_previous_one():
    slow = ModbusSlave(THP, 2, source=lambda p: 50.0)
    slow.faults = FaultSet(Clock(), seed=0)
    slow.faults.add(window("slow", delay_s=0.6))
    with line(slow, timeout=0.2) as (master, bus):
        for _ in range(3):  # each retry comes before the previous late reply is due
            with pytest.raises(minimalmodbus.NoResponseError):
                master.read_register(1, 1, 4)
        deadline = time.monotonic() + 3
        while bus.stats["replies"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bus.stats["replies"] == 1  # only the last request was ever answered


def test_value_faults_follow_the_station_clock():
    clock = Clock(T0)
    level = {"v": 10.0}
    slave = ModbusSlave(GAS, 1, source=lambda p: level["v"])
    fs = slave.faults = FaultSet(clock, seed=0)
    fs.add(faults.make("stuck", T0 + 100, T0 + 200, param="no2"))
    fs.add(faults.make("drift", T0, T0 + 7200, param="co", rate=2.0))
    fs.add(faults.make("spike", T0, T0 + 3600, param="o3", size=50, every_s=600, width_s=60))
    fs.add(faults.make("calibration", T0, T0 + 60, param="so2", level=400))
    assert slave.values() == {"so2": 400.0, "co": 10.0, "no2": 10.0, "o3": 60.0}
    clock.t, level["v"] = T0 + 100, 11.0
    assert slave.value("no2") == 11.0  # stuck from here on
    clock.t, level["v"] = T0 + 150, 15.0
    assert slave.value("no2") == 11.0
    assert slave.value("co") == pytest.approx(15.0 + 2.0 * 150 / 3600)
    assert slave.value("o3") == 15.0  # between spikes
    assert slave.value("so2") == 15.0  # calibration over
    clock.t = T0 + 600 + 30
    assert slave.value("o3") == 65.0
    clock.t = T0 + 250
    assert slave.value("no2") == 15.0  # unstuck after the window


def test_an_episode_ramps_up_holds_and_ramps_down():
    clock = Clock(T0)
    fs = FaultSet(clock)
    fs.add(faults.make("episode", T0, T0 + 3600, param="so2", level=260, ramp_s=600))
    seen = []
    for dt in (0, 300, 600, 1800, 3300, 3599):
        clock.t = T0 + dt
        seen.append(round(fs.value("so2", 4.0), 1))
    assert seen == [4.0, 132.0, 260.0, 260.0, 132.0, pytest.approx(4.4, abs=0.1)]


def test_a_value_fault_saturates_at_the_catalog_range():
    clock = Clock(T0 + 3600 * 10)
    slave = ModbusSlave(THP, 2, source=lambda p: 90.0)
    slave.faults = FaultSet(clock)
    slave.faults.add(faults.make("drift", T0, T0 + 86400, param="rh", rate=5.0))
    assert slave.value("rh") == 100.0  # the transmitter's range ends at 100 %


def read_raw(path: str, seconds: float) -> bytes:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    buf = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                buf += os.read(fd, 512)
    finally:
        os.close(fd)
    return buf


@pytest.mark.parametrize("kind, given, family", [
    ("crc", {}, "pms"), ("crc", {}, "sds"), ("truncate", {"keep": 20}, "pms"),
    ("garble", {"bytes": 2}, "sds"), ("unplug", {}, "pms")])
def test_stream_faults_reach_the_wire(kind, given, family):
    model = next(m for m in boards.catalog().values()
                 if m["bus"] == "stream" and m["stream"]["frame"] == family)
    port = PtyPort(rx_limit=None)
    stream = PmStream({**model, "stream": {**model["stream"], "period_ms": 50}}, port,
                      source=lambda p: 40.0)
    stream.faults = FaultSet(Clock(), seed=2)
    stream.faults.add(window(kind, **given))
    try:
        stream.start()
        raw = read_raw(port.path, 0.6)
    finally:
        stream.stop()
        port.close()
    size = 32 if family == "pms" else 10
    header = b"\x42\x4d" if family == "pms" else b"\xaa\xc0"
    if kind == "unplug":
        assert raw == b""
        return
    frames = [raw[i:i + size] for i in range(0, len(raw), size)] if kind != "truncate" else []
    assert raw.count(header) >= 3
    assert not any(frame_ok(f, family) for f in frames)
    if kind == "truncate":
        assert len(raw) == 20 * raw.count(header)


@pytest.mark.parametrize("kind, given, msg", [
    ("flood", {}, "is not one of"),
    ("crc", {"p": 0}, "probability"),
    ("crc", {"rate": 1}, "not a setting of crc"),
    ("drift", {"param": "so2"}, "rate: missing"),
    ("wrong_id", {"address": 300}, "1..247"),
    ("slow", {"delay_s": -1}, "must not be negative"),
    ("stuck", {"param": 5}, "should be a str"),
])
def test_a_fault_that_cannot_be_played_is_refused_by_name(kind, given, msg):
    with pytest.raises(faults.FaultError, match=msg):
        faults.make(kind, T0, T0 + 60, "faults[0]", **given)
