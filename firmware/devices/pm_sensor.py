# A particulate sensor that streams frames on its own UART (pms or sds family).
#
# The sensor talks whether asked or not, so service() drains its UART on every loop turn and
# keeps each valid frame's fields, with its arrival time, in a small ring. A sample is the
# mean of the frames of the last `sample_s` seconds with the lowest and highest dropped (when
# there are three or more), as field practice does; none after boot during the warm-up, while
# the fan and laser settle. No fresh frame for stale_s: offline. Everything here runs on real
# time (hal.io_ticks_ms): the sensor streams at its own pace whatever the station clock does.
#
# Receive buffer: the UART's (ESP32 rxbuf, 512 B; a pty holds 4 KB) must hold what arrives
# during the longest loop stall, about 3 x mqtt.timeout_s (connect, status, birth). A pms
# sensor sends 32 B/s, an sds 10 B/s: 512 B is 16 s of pms frames; anything older than a
# window is not wanted anyway, and the splitter resyncs after an overflow.

from array import array
from micropython import const

import log
from bus.frames import FIELDS, PLACES, FrameSplitter, field

_RING = const(8)  # frames kept: a window of up to 8 s at one frame per second


class StreamChannel:
    def __init__(self, cfg, kind):
        self.param = cfg["param"]
        r = cfg["range"]
        self.rng = (r[0], r[1], cfg["unit"])  # low, high, unit (values/decode.py Channel)
        self.idx = FIELDS[kind].split().index(cfg["field"])
        self.places = PLACES[kind]
        self.k = -1
        self.dev = None


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
        n = len(self.channels)
        self.values = [None] * n
        self.ring = array("f", bytes(4 * _RING * n))    # field values, frame by frame
        self.ring_ms = [0] * _RING                      # arrival tick of each, real time
        self.ring_n = 0                                # frames held (<= RING)
        self.ring_at = 0                               # next position to write
        self.window_ms = max(1, cfg.get("sample_s", 5)) * 1000
        self.stale_ms = cfg["stale_s"] * 1000
        now = hal.io_ticks_ms()
        self.warm_at = hal.ticks_add(now, cfg["warmup_s"] * 1000)
        self.warming = cfg["warmup_s"] > 0
        self.last_ms = None        # tick of the latest valid frame
        self.online = True         # a stream is offline once its frames stop
        self.polls = 0
        self.errors = 0

    def service(self, now=None):
        """Drain the UART through the splitter; keep each valid frame's fields in the ring."""
        sp = self.splitter
        while True:
            n = self.uart.readinto(self.rxv)
            if not n:
                return
            # one read holds at most rx bytes: feed frame by frame so none is skipped
            i = 0
            while i < n:
                k = min(n - i, sp.size)
                if sp.feed(self.rx, k, i):
                    self._keep(sp.frame)
                i += k

    def _keep(self, frame):
        at = self.ring_at
        base = at * len(self.channels)
        for ch in self.channels:
            self.ring[base] = field(frame, self.kind, ch.idx)
            base += 1
        self.last_ms = self.ring_ms[at] = self.hal.io_ticks_ms()
        self.ring_at = (at + 1) % _RING
        if self.ring_n < _RING:
            self.ring_n += 1

    def sample(self, now=None):
        """True when .values hold the window's trimmed means (warm-up over, stream alive)."""
        self.service()
        self.polls += 1
        hal = self.hal
        t = hal.io_ticks_ms()
        if self.warming:
            if hal.ticks_diff(t, self.warm_at) < 0:
                return False
            self.warming = False
            log.info("sensor %s warmed up" % self.id)
        fresh = self.last_ms is not None and hal.ticks_diff(t, self.last_ms) <= self.stale_ms
        if fresh != self.online:
            self.online = fresh
            if fresh:
                log.info("sensor %s stream online" % self.id)
            else:
                log.warn("sensor %s stream offline (no valid frame for %d s; %d bad sums, "
                         "%d bytes skipped)" % (self.id, self.stale_ms // 1000,
                                                self.splitter.bad, self.splitter.skipped))
        if not fresh:
            self.errors += 1
            return False
        nch = len(self.channels)
        for c in range(nch):
            count = 0
            total = 0.0
            lo = hi = 0.0
            for j in range(self.ring_n):
                if hal.ticks_diff(t, self.ring_ms[j]) <= self.window_ms:
                    x = self.ring[j * nch + c]
                    if count == 0 or x < lo:
                        lo = x
                    if count == 0 or x > hi:
                        hi = x
                    total += x
                    count += 1
            if count >= 3:
                self.values[c] = (total - lo - hi) / (count - 2)
            else:
                self.values[c] = total / count if count else None
        return True
