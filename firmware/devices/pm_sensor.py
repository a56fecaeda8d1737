# A particulate sensor that streams frames on its own UART (pms or sds family).
#
# The sensor talks whether asked or not, so service() must drain its UART often (an ESP32's
# 512-byte receive buffer fills in about half a second at 9600 baud); sample() then reports
# the latest frame's fields if that frame is fresh. No samples during the warm-up after boot,
# while the fan and laser settle. Duty cycling (sleep/wake between samples) comes later.

import log
from bus.frames import FIELDS, PLACES, FrameSplitter, field
from values.window import Window


class StreamChannel:
    def __init__(self, cfg, kind):
        self.param = cfg["param"]
        self.unit = cfg["unit"]
        self.idx = FIELDS[kind].index(cfg["field"])
        self.places = PLACES[kind]
        self.window = Window(cfg["range"][0], cfg["range"][1])


class PmSensor:
    def __init__(self, cfg, uart, hal):
        self.id = cfg["id"]
        self.uart = uart
        self.hal = hal
        self.kind = cfg["frame"]
        self.splitter = FrameSplitter(self.kind)
        self.rx = bytearray(128)
        self.rxv = memoryview(self.rx)
        self.channels = [StreamChannel(ch, self.kind) for ch in cfg["ch"]]
        self.values = [None] * len(self.channels)
        self.stale_ms = cfg["stale_s"] * 1000
        self.warm_at = hal.ticks_add(hal.ticks_ms(), cfg["warmup_s"] * 1000)
        self.warming = cfg["warmup_s"] > 0
        self.last_ms = None        # tick of the latest valid frame
        self.online = True         # a stream is offline once its frames stop
        self.polls = 0
        self.errors = 0

    def service(self, now):
        """Drain the UART through the splitter; keep the fields of the newest valid frame."""
        got = 0
        sp = self.splitter
        while True:
            n = self.uart.readinto(self.rxv)
            if not n:
                break
            got += sp.feed(self.rx, n)
        if got:
            self.last_ms = now
            frame = sp.frame
            values = self.values
            for i, ch in enumerate(self.channels):
                values[i] = field(frame, self.kind, ch.idx)

    def sample(self, now):
        """True when .values hold a fresh frame's fields (warm-up over, stream alive)."""
        self.service(now)
        self.polls += 1
        hal = self.hal
        if self.warming:
            if hal.ticks_diff(now, self.warm_at) < 0:
                return False
            self.warming = False
            log.info("sensor " + self.id + " warmed up")
        fresh = self.last_ms is not None and hal.ticks_diff(now, self.last_ms) <= self.stale_ms
        if fresh != self.online:
            self.online = fresh
            if fresh:
                log.info("sensor " + self.id + " stream online")
            else:
                log.warn("sensor " + self.id + " stream offline (no valid frame for " +
                         str(self.stale_ms // 1000) + " s; " + str(self.splitter.bad) +
                         " bad sums, " + str(self.splitter.skipped) + " bytes skipped)")
        if not fresh:
            self.errors += 1
        return fresh
