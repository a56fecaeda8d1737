# A sound-level meter: a Modbus slave whose one register (the A-weighted level) is read at the
# meter's own period (config "sample_s", 1 s) on every loop turn it is due, whatever the
# station's sample_s; its six record columns (laeq lamax lamin l10 l50 l90, in that order,
# boards.SOUND_PARAMS) are the report period's statistics of those levels, never a mean of dB:
#
#   laeq      10*log10(mean of 10**(L/10)): the energy sum, kept as it runs
#   lamax     the highest level, lamin the lowest
#   l10 l50 l90  the levels exceeded 10/50/90 % of the time: the lower edge of the 0.5 dB bin
#             where the nearest rank falls (docs/noise.md), from a histogram of 240 uint16
#             counts from 20 dB (480 B, made once; a level costs no allocation); when a count
#             would pass 65535 every count is halved, so the shares stay
#
# A level outside the channel's range is dropped and flags its columns out of range (1). A
# column's n counts the station's sample ticks at which levels had come in since the one
# before, so completeness and the record's n width are the station's; the sampler's windows
# carry the count and station/sampler.py asks close() for the values when the period closes.
# Loaded only for a station that has a sound meter (station/boot.py).

import math
from array import array
from micropython import const

from devices.modbus_sensor import ModbusSensor

_FLOOR = const(20)      # dB: the first bin's lower edge (it also holds anything below)
_BINS = const(240)      # 0.5 dB each, up to 140 dB (the last bin holds anything above)
_REAL_MS = const(250)   # on a fast clock the bus stays real time: a level at most this often
_DB = 4.342944819032518  # 10 / ln(10): 10*log10(x) as math.log(x) * _DB


class SoundMeter(ModbusSensor):
    def __init__(self, cfg, bus, hal):
        ModbusSensor.__init__(self, cfg, bus, hal)
        first = self.channels[0]
        for ch in self.channels:
            ch.how = first.how  # one register, one decoding: five tuples less on the heap
            # the record keeps places + 1 decimals: 0.1 dB, the levels' own resolution (a
            # statistic of levels, not an arithmetic mean needing one digit more)
            ch.places = 0
        self.lo, self.hi = cfg["ch"][0]["range"]
        ms = self.sample_ms = max(cfg["sample_s"] * 1000, _REAL_MS * hal.speed)
        # levels half-way between the period's marks: where station ticks and the wall clock
        # share an anchor (the unix port) a record holds exactly report_s / period of them
        now = hal.ticks_ms()
        self.tick = now - now % ms + ms // 2
        self.data = array("H", bytes(2 * _BINS))
        self.count = 0      # levels since the station's last sample tick
        self.reset()

    def reset(self):
        """A new report period: no levels yet."""
        self.total = 0.0    # energy sum: sum of 10**(L/10)
        self.n = 0
        self.mn = self.mx = 0.0
        self.flags = 0
        d = self.data
        for i in range(_BINS):
            d[i] = 0

    def service(self, now):
        """Every loop turn: read the level when the meter's own period is due."""
        hal = self.hal
        if hal.ticks_diff(now, self.tick) < 0:
            return
        nxt = hal.ticks_add(self.tick, self.sample_ms)
        if hal.ticks_diff(now, nxt) >= 0:  # a whole period behind: skip, do not catch up
            nxt = hal.ticks_add(now, self.sample_ms)
        self.tick = nxt
        if not ModbusSensor.sample(self, now):
            return
        value = self.values[0]
        if value is None or not self.lo <= value <= self.hi:  # NaN fails too
            self.flags = 1
            return
        if self.n == 0 or value > self.mx:
            self.mx = value
        if self.n == 0 or value < self.mn:
            self.mn = value
        self.n += 1
        self.count += 1
        self.total += 10 ** (value / 10)
        i = int((value - _FLOOR) * 2 + 0.0001)  # a level on a bin edge (0.1 dB steps) is in it
        i = 0 if i < 0 else _BINS - 1 if i >= _BINS else i
        d = self.data
        if d[i] == 0xFFFF:
            for j in range(_BINS):
                d[j] >>= 1
        d[i] += 1

    def sample(self, now):
        """The station's sample tick: True when levels came since the last one. Each column
        then counts the tick (with a level in range); its value is set by close()."""
        if not self.count:
            return False
        self.count = 0
        v = self.values
        for i in range(len(v)):
            v[i] = self.mx
        return True

    def close(self, win):
        """The period ends: each column's window gets its statistic as its mean (total =
        value * n); then a new period."""
        vals = None
        if self.n:
            d = self.data
            total = sum(d)
            # nearest ranks, lowest first: l90 (10 %), l50, l10 (90 %)
            ranks = (max(1, -(-total // 10)), max(1, -(-total // 2)), max(1, -(-9 * total // 10)))
            got = [0.0, 0.0, 0.0]
            seen = 0
            idx = 0
            for i in range(_BINS):
                seen += d[i]
                while idx < 3 and seen >= ranks[idx]:
                    got[idx] = _FLOOR + i * 0.5
                    idx += 1
            vals = (math.log(self.total / self.n) * _DB, self.mx, self.mn, got[2], got[1],
                    got[0])
        i = 0
        for ch in self.channels:
            k = ch.k
            if k >= 0:
                if self.flags:
                    win.flags[k] |= 1
                if vals and win.n[k]:
                    win.total[k] = vals[i] * win.n[k]
                    win.mn[k] = win.mx[k] = vals[i]
            i += 1
        self.reset()
