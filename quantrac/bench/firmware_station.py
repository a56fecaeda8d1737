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

import hal as hal_pkg
from bus.modbus_rtu import crc16
from hal.unix import Hal as UnixHal

T0 = 1763755200


class ModbusWire:
    """Every slave on the line answers every read with registers of 0x0100."""

    baud = 9600
    char_us = 1041

    def __init__(self, hal):
        self.hal = hal
        self.reply = bytearray(256)
        self.n = 0
        self.cache = {}

    def write(self, buf, n):
        key = bytes(buf[:6])
        r = self.cache.get(key)
        if r is None:
            count = buf[4] << 8 | buf[5]
            b = bytearray([buf[0], buf[1], 2 * count]) + b"\x01\x00" * count
            c = crc16(b, 0, len(b))
            b.append(c & 0xFF)
            b.append(c >> 8)
            r = self.cache[key] = bytes(b)
        self.reply[:len(r)] = r
        self.n = len(r)

    def readinto(self, mv):
        k = self.n
        mv[:k] = self.reply[:k]
        self.n = 0
        return k

    def wait(self, ms):
        if self.n:
            return True
        self.hal.vt += ms
        return False

    def drain(self):
        self.n = 0
        return 0

    def close(self):
        pass


def pms_frame():
    body = bytearray(b"\x42\x4d\x00\x1c")
    for w in (14, 21, 35, 14, 21, 35, 3000, 900, 200, 30, 5, 1, 0x9700):
        body.append(w >> 8)
        body.append(w & 0xFF)
    s = sum(body)
    body.append(s >> 8 & 0xFF)
    body.append(s & 0xFF)
    return bytes(body)


class StreamWire:
    """One frame per second of (virtual) time."""

    baud = 9600
    char_us = 1041

    def __init__(self, hal):
        self.hal = hal
        self.frame = pms_frame()
        self.next = 0

    def readinto(self, mv):
        if self.hal.vt < self.next:
            return 0
        self.next = self.hal.vt + 1000
        mv[:32] = self.frame
        return 32

    def close(self):
        pass


class BenchHal(UnixHal):
    """The unix HAL with fake wires and one virtual clock for station and bus time."""

    speed = 100      # the loop's stream idle: 10 s of station time per turn (one sample)
    hooks = []       # called at every watchdog feed, i.e. once per loop turn

    def __init__(self, cfg=None):
        UnixHal.__init__(self, cfg)
        self.speed = 100
        self.vt = 0
        self.ticks_ms = self.io_ticks_ms = self._now
        self.sleep_ms = self.io_sleep_ms = self._sleep

    def _now(self):
        return self.vt

    def _sleep(self, ms):
        if ms > 0:
            self.vt += ms

    def epoch(self):
        return T0 + self.vt // 1000

    def uart(self, name, u):
        return StreamWire(self) if name == "pm" else ModbusWire(self)

    def wdt_feed(self):
        for hook in BenchHal.hooks:
            hook(self)


def build(path):
    from station.app import build as build_station

    hal_pkg.Hal = BenchHal  # what station/boot.py imports from hal
    return build_station(path)


def heap(path, cycles, steady, rom_alloc):
    """Live heap figures exclude `rom_alloc`: the ROM image's block (firmware_rom.py)."""
    out = {"cycles": 0, "boot_live": 0, "peak_live": 0, "steady_start": 0, "end_live": 0,
           "rom_alloc": rom_alloc}
    st = build(path)
    gc.collect()
    out["boot_live"] = gc.mem_alloc() - rom_alloc

    def hook(hal):
        gc.collect()
        live = gc.mem_alloc() - rom_alloc
        n = st.sampler.samples
        out["peak_live"] = max(out["peak_live"], live)
        if n >= steady and not out["steady_start"]:
            out["steady_start"] = live
        if n == steady // 2 and not st.uplink.inbox:  # a command, as if it arrived: its
            # code is loaded for the answer and dropped, but its names stay interned (qstrs),
            # a one-time cost the steady state starts after
            st.uplink.inbox.append((b"cmd", b'{"v":1,"id":"bench","cmd":"backlog"}'))
        if n >= cycles:
            out["end_live"] = live
            raise KeyboardInterrupt

    BenchHal.hooks.append(hook)
    st.run()
    out["cycles"] = st.sampler.samples
    out["records"] = st.sampler.records
    out["published"] = st.publisher.sent
    out["loop_errors"] = st.errors
    out["record_bytes"] = st.backlog.cur.size
    out["per_segment"] = st.backlog.per_seg
    out["segments"] = st.backlog.max_segs
    st.hal.close()
    print(json.dumps(out))


def drain(path, records):
    from station.record import seal

    st = build(path)
    bl = st.backlog
    slot = bytearray(bl.cur.size)
    for i in range(records):  # as a long outage would have left them
        for k in range(8, len(slot) - 2):
            slot[k] = 0
        seal(slot, T0 - 300 * (records - i), 300, 0)
        bl.append(slot)
    done = {}

    def hook(hal):
        if len(bl) == 0:
            done["ms"] = time.ticks_diff(time.ticks_ms(), done["start"])
            raise KeyboardInterrupt

    BenchHal.hooks.append(hook)
    done["start"] = time.ticks_ms()  # connecting is part of draining
    st.run()
    st.hal.close()
    ms = done.get("ms", 0)
    print(json.dumps({"records": records, "ms": ms, "messages": st.publisher.sent,
                      "batch": st.publisher.batch, "left": len(bl)}))


def main(argv, rom_alloc=0):
    if argv[1] == "heap":
        heap(argv[2], int(argv[3]), int(argv[4]), rom_alloc)
    else:
        drain(argv[2], int(argv[3]))


if __name__ == "__main__":
    main(sys.argv)
