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
from values.calibrate import Calibration
from values.decode import Channel
from values.window import Windows


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
    w = Windows([(0, 100), (-5, 5)], True)
    for x in (10, 20, 30, 150, -1, None, float("nan")):
        w.add(0, x)
    eq(w.close(0, 8), 20.0, "mean")
    eq((w.n[0], w.mn[0], w.mx[0], w.status[0]), (3, 10, 30, 0), "stats")
    eq(w.flags[0], 1 | 2, "out of range + 3 of 8 < 75 %")
    eq((w.close(1, 8), w.status[1], w.flags[1]), (None, 2, 2), "no sample: device error")
    w.reset()
    for x in (1, 2, 3, 4, 5, 6):
        w.add(0, x)
    w.close(0, 8)
    eq(w.flags[0], 0, "6 of 8 is 75 %: complete")


def test_window_range_ends_stay_inside_in_float32():
    # 0.7 and 0.1 have no exact float32: the window's ends move out, never in
    w = Windows([(0.1, 0.7), (-0.7, 999.9)], False)
    for k, x in ((0, 0.1), (0, 0.7), (1, -0.7), (1, 999.9)):
        eq(w.add(k, x), True, "a sample on the range's end is inside: %r" % x)
    eq((w.add(0, 0.71), w.add(1, 1000.0)), (False, False), "beyond it is not")


def test_window_without_minmax_keeps_the_same_means_and_flags():
    w = Windows([(0, 100)], False)
    for x in (10, 20, 30, 150):
        w.add(0, x)
    eq((w.close(0, 8), w.n[0], w.flags[0], w.mn, w.mx), (20.0, 3, 1 | 2, None, None),
       "mean, n and flags as with min/max; no min/max arrays")


def test_window_calibration_mode_marks_status_1():
    w = Windows([(0, 100)], True)
    w.calibrating[0] = 1
    w.cal_seen[0] = 1
    w.add(0, 5)
    w.close(0, 1)
    eq(w.status[0], 1, "calibrating")
    w.calibrating[0] = 0
    w.reset()
    w.add(0, 5)
    w.close(0, 1)
    eq(w.status[0], 0, "after cal_stop, the next period measures again")
    w.calibrating[0] = 1
    w.reset()
    w.calibrating[0] = 0
    w.close(0, 1)
    eq(w.status[0], 1, "calibrating during part of the period, even without a sample")


def test_calibration_linear_and_points():
    cal = Calibration({"so2": {"v": 3, "offset": -1.5, "slope": 2},
                       "ph": {"v": 7, "points": [[4.0, 4.1], [7.0, 7.0], [10.0, 9.8]]}},
                      ["so2", "temp", "ph"])
    eq(cal.apply(0, 10), 18.5, "slope and offset")
    eq(cal.apply(1, 10), 10, "no calibration")
    eq(cal.apply(0, None), None, "None stays None")
    eq(round(cal.apply(2, 5.5), 6), round(4.1 + 1.5 * 2.9 / 3, 6), "between the first points")
    eq(round(cal.apply(2, 8.5), 6), round(7.0 + 1.5 * 2.8 / 3, 6), "between the last points")
    eq(round(cal.apply(2, 11), 6), round(9.8 + 2.8 / 3, 6), "beyond: the end segment extends")
    eq(round(cal.apply(2, 3), 6), round(4.1 - 2.9 / 3, 6), "below: the first segment extends")
    eq(cal.versions, {"so2": 3, "ph": 7}, "versions")


def test_channel_decimal_register_and_scale():
    regs = bytearray(b"\x02\xbc\x00\x02\xff\x38\x00\x01")  # 700 dec 2, -200 dec 1
    ph = Channel({"param": "ph", "unit": "pH", "reg": 0, "type": "uint16", "dec_reg": 1,
                  "range": [0, 14]}, 0)
    temp = Channel({"param": "temp", "unit": "degC", "reg": 2, "type": "int16", "dec_reg": 3,
                    "range": [0, 60]}, 0)
    eq(ph.decode(regs, 0), 7.0, "ph")
    eq(ph.places, 2, "ph resolution")
    eq(temp.decode(regs, 0), -20.0, "temp")
    regs[3] = 9
    eq(ph.decode(regs, 0), None, "a decimals register of 9 is not believable")


def sds(pm25_x10, pm10_x10):
    d = bytes([pm25_x10 & 0xFF, pm25_x10 >> 8, pm10_x10 & 0xFF, pm10_x10 >> 8, 0x12, 0x34])
    return b"\xaa\xc0" + d + bytes([sum(d) & 0xFF, 0xAB])


def test_pm_sensor_warmup_window_and_stale():
    from devices.pm_sensor import PmSensor

    clk = Clock()
    clk.io_ticks_ms = clk.ticks_ms  # the stream runs on real time: here the scripted clock
    uart = ScriptUart(lambda req: b"")
    d = PmSensor({"id": "pm", "frame": "sds", "warmup_s": 2, "stale_s": 3, "sample_s": 5,
                  "ch": [{"param": "pm10", "unit": "ug/m3", "field": "pm10",
                          "range": [0, 999.9]}]}, uart, clk)
    uart.inbox += b"\x13\x37" + sds(55, 123)
    clk.ms = 1000
    eq(d.sample(), False, "warming up")
    uart.inbox += sds(56, 124)[:7]
    clk.ms = 2000
    eq(d.sample(), True, "a fresh frame")
    eq([round(v, 3) for v in d.values], [12.3], "pm10 of the only whole frame")
    uart.inbox += sds(56, 124)[7:]
    clk.ms = 4500
    eq((d.sample(), [round(v, 3) for v in d.values]), (True, [12.35]),
       "frame completed across reads; mean of the window's two frames")
    for i, v in enumerate((100, 130, 131, 132, 500)):
        uart.inbox += sds(1, v)
        clk.ms = 5000 + 100 * i
        d.service()
    clk.ms = 6001  # the frame of 1000 is now older than the 5 s window
    eq((d.sample(), round(d.values[0], 3)), (True, round((12.4 + 13 + 13.1 + 13.2) / 4, 3)),
       "more than two frames: lowest (10) and highest (50) dropped")
    clk.ms = 9600
    eq((d.sample(), d.online), (False, False), "stream stopped: offline")
    uart.inbox += sds(1, 2)
    clk.ms = 10000
    eq((d.sample(), d.online), (True, True), "back")


run(globals())
