# Unit tests of the bus, device and value layers that run ON MicroPython (the unix port).
# Prints one "PASS <name>" or "FAIL <name>: <why>" line per test_* function; the CPython side
# (tests/firmware/test_fw_units.py) turns each line into a pytest result.
# Fakes stand only where hardware would be: a scripted UART and a clock.

import time

from bus.modbus_rtu import NEED_MORE, ModbusError, build_read, build_write, crc16, find_reply
from bus.rs485 import BusTimeout, FrameError, Rs485, silent_ms
from hal import Hal
from hal.common import char_us
from mpytest import Clock, eq, raises, run
from values.decode import Channel
from values.window import Window


def sealed(*body):
    b = bytearray(body)
    c = crc16(b, 0, len(b))
    b.append(c & 0xFF)
    b.append(c >> 8)
    return b


# ---- Modbus framing -------------------------------------------------------------------------

def test_crc_known_frame():
    req = bytearray(8)
    eq(build_read(req, 1, 3, 0, 10), 8, "length")
    eq(bytes(req), b"\x01\x03\x00\x00\x00\x0a\xc5\xcd", "request")
    eq(crc16(b"\x01\x03\x00\x00\x00\x0a", 0, 6), 0xCDC5, "crc")


def test_build_write_single():
    req = bytearray(8)
    build_write(req, 1, 1, 3)
    eq(bytes(req), b"\x01\x06\x00\x01\x00\x03\x98\x0b", "write request")


def test_build_read_refuses_bad_function_and_count():
    req = bytearray(8)
    raises(ValueError, build_read, req, 1, 5, 0, 1)
    raises(ValueError, build_read, req, 1, 3, 0, 126)


def test_find_reply_resyncs_past_garbage_and_foreign_frames():
    ours = sealed(1, 3, 4, 0x12, 0x34, 0x56, 0x78)
    foreign = sealed(2, 3, 4, 1, 3, 4, 9)
    buf = bytearray(b"\x00\xff\x01") + foreign + ours
    eq(find_reply(buf, len(buf), 1, 3, 9), 3 + len(foreign), "offset after noise + foreign")
    eq(find_reply(buf, len(buf) - 1, 1, 3, 9), NEED_MORE, "incomplete")
    bad = bytearray(ours)
    bad[-1] ^= 0xFF
    eq(find_reply(bad, len(bad), 1, 3, 9), NEED_MORE, "bad crc is not a reply")


def test_find_reply_wrong_byte_count_is_not_a_reply():
    short = sealed(1, 3, 2, 0, 7)
    eq(find_reply(short, len(short), 1, 3, 9), NEED_MORE, "wrong count")


def test_find_reply_raises_exception_reply():
    exc = bytearray(b"\x00") + sealed(1, 0x83, 2)
    e = raises(ModbusError, find_reply, exc, len(exc), 1, 3, 9)
    eq(e.args[0], 2, "exception code")
    other = sealed(7, 0x83, 2)
    eq(find_reply(other, len(other), 1, 3, 9), NEED_MORE, "another slave's exception")


class ScriptUart:
    """A UART whose far end answers each request with reply(request) (or nothing)."""

    baud = 9600
    char_us = 1041

    def __init__(self, reply):
        self.reply = reply
        self.inbox = bytearray()
        self.sent = []

    def write(self, buf, n):
        req = bytes(buf[:n])
        self.sent.append(req)
        self.inbox += self.reply(req)

    def readinto(self, mv):
        k = min(len(mv), len(self.inbox))
        mv[:k] = self.inbox[:k]
        self.inbox = self.inbox[k:]
        return k

    def wait(self, ms):
        if self.inbox:
            return True
        time.sleep_ms(ms)
        return False

    def drain(self):
        k = len(self.inbox)
        self.inbox = bytearray()
        return k


class Match:
    def __init__(self, addr, fn, length):
        self.a = addr
        self.f = fn
        self.n = length

    def match(self, buf, n):
        return find_reply(buf, n, self.a, self.f, self.n)


def test_rs485_flushes_stale_input_and_finds_reply():
    reply = sealed(1, 3, 2, 0, 42)
    uart = ScriptUart(lambda req: b"\x00" + reply)
    uart.inbox += sealed(1, 3, 2, 0, 99)  # a late answer to an earlier request
    bus = Rs485(uart, Hal())
    req = bytearray(8)
    n = build_read(req, 1, 3, 0, 1)
    off = bus.transact(req, n, 200, 0, Match(1, 3, 7))
    eq(off, 1, "offset past the direction-change zero")
    eq(bus.rx[off + 3] << 8 | bus.rx[off + 4], 42, "register")
    eq(uart.sent, [bytes(req)], "request bytes")


def test_rs485_timeout_and_bad_frame():
    bus = Rs485(ScriptUart(lambda req: b""), Hal())
    req = bytearray(8)
    n = build_read(req, 1, 3, 0, 1)
    raises(BusTimeout, bus.transact, req, n, 50, 0, Match(1, 3, 7))
    bus = Rs485(ScriptUart(lambda req: b"\x01\x03\x02\x00\x2a\x00\x00"), Hal())
    raises(FrameError, bus.transact, req, n, 50, 0, Match(1, 3, 7))


def test_silent_interval():
    eq(char_us(9600, 8, "N", 1), 1041, "9600 8N1 char")
    eq(char_us(9600, 8, "E", 1), 1145, "9600 8E1 char")
    eq(silent_ms(9600, 1145), 5, "3.5 chars at 9600 8E1 (4.0 ms) -> 5 ms")
    eq(silent_ms(9600, 1041), 4, "3.5 chars at 9600 8N1")
    eq(silent_ms(115200, 86), 2, "fixed 1.75 ms above 19200")


# ---- values -----------------------------------------------------------------------------------

def test_window_statistics_and_flags():
    w = Window(0, 100)
    for x in (10, 20, 30, 150, -1, None, float("nan")):
        w.add(x)
    w.miss()
    eq(w.close(8), 0, "status with samples")
    eq((w.n, w.mean, w.mn, w.mx), (3, 20.0, 10, 30), "stats")
    eq(w.flags, 1 | 2, "out of range + 3 of 8 < 75 %")
    w.reset()
    for x in (1, 2, 3, 4, 5, 6):
        w.add(x)
    w.close(8)
    eq(w.flags, 0, "6 of 8 is 75 %: complete")
    w.reset()
    eq(w.close(8), 2, "no sample: device error")
    eq((w.mean, w.n, w.flags), (None, 0, 2), "empty window")


def test_channel_decimal_register_and_scale():
    regs = bytearray(b"\x02\xbc\x00\x02\xff\x38\x00\x01")  # 700 dec 2, -200 dec 1
    ph = Channel({"param": "ph", "unit": "pH", "reg": 0, "type": "uint16", "dec_reg": 1,
                  "range": [0, 14]}, 0, None)
    temp = Channel({"param": "temp", "unit": "degC", "reg": 2, "type": "int16", "dec_reg": 3,
                    "range": [0, 60]}, 0, None)
    eq(ph.decode(regs, 0), 7.0, "ph")
    eq(ph.places, 2, "ph resolution")
    eq(temp.decode(regs, 0), -20.0, "temp")
    regs[3] = 9
    eq(ph.decode(regs, 0), None, "a decimals register of 9 is not believable")


def sds(pm25_x10, pm10_x10):
    d = bytes([pm25_x10 & 0xFF, pm25_x10 >> 8, pm10_x10 & 0xFF, pm10_x10 >> 8, 0x12, 0x34])
    return b"\xaa\xc0" + d + bytes([sum(d) & 0xFF, 0xAB])


def test_pm_sensor_warmup_fresh_and_stale():
    from devices.pm_sensor import PmSensor

    clk = Clock()
    uart = ScriptUart(lambda req: b"")
    d = PmSensor({"id": "pm", "frame": "sds", "warmup_s": 2, "stale_s": 3, "ch": [
        {"param": "pm10", "unit": "ug/m3", "field": "pm10", "range": [0, 999.9]}]}, uart, clk)
    uart.inbox += b"\x13\x37" + sds(55, 123)
    eq(d.sample(1000), False, "warming up")
    uart.inbox += sds(56, 124)[:7]
    eq(d.sample(2000), True, "a fresh frame")
    eq(d.values, [12.3], "pm10 of the latest whole frame")
    uart.inbox += sds(56, 124)[7:]
    eq((d.sample(4500), d.values), (True, [12.4]), "frame completed across reads")
    eq((d.sample(7600), d.online), (False, False), "stream stopped: offline")
    uart.inbox += sds(1, 2)
    eq((d.sample(8000), d.online), (True, True), "back")


run(globals())
