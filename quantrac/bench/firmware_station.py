# MicroPython side of `quantrac bench firmware`: the real station (the .mpy build, run from its
# ROM image by firmware_rom.py, or from the build folder when run directly) with its
# UARTs replaced by byte-level fakes that answer at once and a virtual clock, so thousands of
# sample cycles run in seconds; MQTT goes to a real loopback Mosquitto.
#
#   heap  CONFIG CYCLES STEADY   run CYCLES sample cycles; live heap (after gc.collect) at
#                                every loop turn; prints one JSON line
#   drain CONFIG RECORDS         pre-fill the backlog with RECORDS records, boot, and time
#                                (real) until the broker acknowledged all of them
# Only the wire is fake: Modbus replies are computed with the firmware's own CRC for whatever
# the master asks, the particulate UART yields one valid 0x42 0x4D frame per second.

import gc
import json
import sys
import time
from array import array

import hal
import micropython
from bus.modbus_rtu import crc16
from hal.unix import Hal
from micropython import const

_T0 = const(1763755200)
# Names here are kept few: each new one is interned for good and counts against the station's
# qstr pools. Hence the JSON keys of each mode's figures in one long string (short literals
# are interned too) and the arguments named as the station's own code names things.


class ModbusWire:
    """Every slave on the line answers every read with registers of 0x0100, but the sound
    meter (address 4): a level from 50.0 to 79.9 dB(A) moving each second of virtual time,
    so its histogram fills many bins."""

    baud = 9600
    char_us = 1041

    def __init__(self, hal):
        self.hal = hal
        self.buf = bytearray(256)  # the reply to the latest request, built in place
        self.n = 0

    def write(self, buf, n):
        count = buf[4] << 8 | buf[5]
        r = self.buf
        r[0] = buf[0]
        r[1] = buf[1]
        r[2] = 2 * count
        for i in range(3, 3 + 2 * count, 2):
            r[i] = 1
            r[i + 1] = 0
        if buf[0] == 4:
            value = 500 + self.hal.ticks // 1000 % 300  # dB(A) x 10
            r[3] = value >> 8
            r[4] = value & 0xFF
        end = 3 + 2 * count
        c = crc16(r, 0, end)
        r[end] = c & 0xFF
        r[end + 1] = c >> 8
        self.n = end + 2

    def readinto(self, buf):
        k = self.n
        buf[:k] = self.buf[:k]
        self.n = 0
        return k

    def wait(self, ms):
        if self.n:
            return True
        self.hal.ticks += ms
        return False

    def drain(self):
        self.n = 0
        return 0

    def close(self):
        pass


class StreamWire:
    """One frame per second of (virtual) time."""

    baud = 9600
    char_us = 1041

    def __init__(self, hal):
        self.hal = hal
        body = bytearray(b"\x42\x4d\x00\x1c")  # a valid pms frame: header, 13 words, sum
        for w in (14, 21, 35, 14, 21, 35, 3000, 900, 200, 30, 5, 1, 0x9700):
            body.append(w >> 8)
            body.append(w & 0xFF)
        s = sum(body)
        body.append(s >> 8 & 0xFF)
        body.append(s & 0xFF)
        self.frame = bytes(body)
        self.next = 0

    def readinto(self, buf):
        if self.hal.ticks < self.next:
            return 0
        self.next = self.hal.ticks + 1000
        buf[:32] = self.frame
        return 32

    def close(self):
        pass


class BenchHal(Hal):
    """The unix HAL with fake wires and one virtual clock for station and bus time."""

    hooks = []       # called at every watchdog feed, i.e. once per loop turn

    def __init__(self, cfg=None):
        Hal.__init__(self, cfg)
        self.speed = 100  # the loop's stream idle: 10 s of station time per turn (one sample)
        self.ticks = 0  # virtual ms
        self.ticks_ms = self.io_ticks_ms = self.now
        self.sleep_ms = self.io_sleep_ms = self.sleep

    def now(self):
        return self.ticks

    def sleep(self, ms):
        if ms > 0:
            self.ticks += ms

    def epoch(self):
        return _T0 + self.ticks // 1000

    def uart(self, name, cfg):
        return StreamWire(self) if name == "pm" else ModbusWire(self)

    def wdt_feed(self):
        for f in BenchHal.hooks:
            f(self)


def build(path):
    from station.app import build

    hal.Hal = BenchHal  # what station/boot.py imports from hal
    return build(path)


def report(keys, values):
    print(json.dumps(dict(zip(keys.split(), values))))  # noqa: B905 (MicroPython)


def heap(path, n, steady, rom):
    """n sample cycles; live heap figures exclude `rom`: the ROM image's block
    (firmware_rom.py)."""
    st = build(path)
    # cycles, boot live, peak live, steady-state start, end live, and the sound meter's
    # histogram: the heap a copy of it takes and its bins (0 without one): the keys' order
    # below; one list, so the bench's figures take no more of the heap the run measures
    out = [0, 0, 0, 0, 0, 0, 0]
    for dev in st.devices:
        if hasattr(dev, "close"):
            gc.collect()
            out[5] = gc.mem_alloc()
            data = array("H", dev.counts)
            gc.collect()
            out[5] = gc.mem_alloc() - out[5]
            out[6] = len(data)
            data = None
    gc.collect()
    out[1] = gc.mem_alloc() - rom

    def feed(_):
        gc.collect()
        live = gc.mem_alloc() - rom
        done = st.sampler.samples
        out[2] = max(out[2], live)
        if done >= steady and not out[3]:
            out[3] = live
        if done == steady // 2 and not st.uplink.inbox:  # a command, as if it arrived: its
            # code is loaded for the answer and dropped, but its names stay interned (qstrs),
            # a one-time cost the steady state starts after
            st.uplink.inbox.append((b"cmd", b'{"v":1,"id":"bench","cmd":"backlog"}'))
        if done >= n:
            out[4] = live
            raise KeyboardInterrupt

    BenchHal.hooks.append(feed)
    st.run()
    out[0] = st.sampler.samples
    micropython.qstr_info()  # interned names: firmware.py reads this line
    b = st.backlog
    # answered: the bench's command got its answer (station/app.py drops it, logging, when
    # the command code finds no heap to load in: that heap is too small all the same)
    report("cycles boot_live peak_live steady_start end_live histogram_bytes histogram_bins "
           "rom_alloc records published loop_errors record_bytes per_segment segments params "
           "answered",
           out + [rom, st.sampler.records, st.publisher.sent, st.errors, b.cur.size, b.per_seg,
                  b.max_segs, len(st.cols), len(st.answered)])
    st.hal.close()


def drain(path, records):
    from station.record import seal

    st = build(path)
    bl = st.backlog
    slot = bytearray(bl.cur.size)
    for i in range(records):  # as a long outage would have left them
        for k in range(8, len(slot) - 2):
            slot[k] = 0
        seal(slot, _T0 - 300 * (records - i))
        bl.append(slot)
    ms = [time.ticks_ms(), 0]  # connecting is part of draining

    def feed(_):
        if len(bl) == 0:
            ms[1] = time.ticks_diff(time.ticks_ms(), ms[0])
            raise KeyboardInterrupt

    BenchHal.hooks.append(feed)
    st.run()
    st.hal.close()
    report("records ms messages batch left",
           (records, ms[1], st.publisher.sent, st.publisher.batch, len(bl)))


def main(argv, rom=0):
    if argv[1] == "heap":
        heap(argv[2], int(argv[3]), int(argv[4]), rom)
    else:
        drain(argv[2], int(argv[3]))


if __name__ == "__main__":
    main(sys.argv)
