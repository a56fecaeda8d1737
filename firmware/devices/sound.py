# A sound-level meter: a Modbus slave whose one register (the A-weighted level) is read at the
# meter's own period (config "sample_s", 1 s) on every loop turn it is due, whatever the
# station's sample_s; its six record columns (laeq lamax lamin l10 l50 l90, in that order,
# boards.SOUND_PARAMS) are the report period's statistics of those levels, never a mean of dB:
#
#   laeq      10*log10(mean of 10**(L/10)): the energy sum, kept as it runs
#   lamax     the highest level, lamin the lowest
#   l10 l50 l90  the levels exceeded 10/50/90 % of the time: the lower edge of the 0.5 dB bin
#             where the nearest rank falls (docs/noise.md's histogram), from uint16 counts
#             over the channel's range (30-130 dB: 200 counts, 400 B, made once; a level costs
#             no allocation); when a count would pass 65535 every count is halved, so the
#             shares stay
#
# A level outside the channel's range is dropped and flags its columns out of range (1). A
# column's n counts the station's sample ticks at which levels had come in since the one
# before, so completeness and the record's n width are the station's; the sampler's windows
# carry the count and station/sampler.py asks close() for the values when the period closes.
# Loaded only for a station that has a sound meter (station/boot.py). Few attributes and
# names: the device's dict and the qstr pools are at a size step (firmware/README.md).

import math
from array import array
from micropython import const

from devices.modbus_sensor import ModbusSensor

_REAL_MS = const(250)   # on a fast clock the bus stays real time: a level at most this often
# the floats of self.total, by index
_E = const(0)           # energy sum of the period: sum of 10**(L/10)
_N = const(1)           # levels in the period
_NEW = const(2)         # levels since the station's last sample tick
_MX = const(3)
_MN = const(4)
_LO = const(5)          # the channel's range: bins from _LO, levels outside dropped
_HI = const(6)
_BAD = const(7)         # 1: a level out of range in this period


class SoundMeter(ModbusSensor):
    def __init__(self, cfg, bus, hal):
        ModbusSensor.__init__(self, cfg, bus, hal)
        first = self.channels[0]
        for ch in self.channels:
            ch.how = first.how  # one register, one decoding: five tuples less on the heap
            # the record keeps places + 1 decimals: 0.1 dB, the levels' own resolution (a
            # statistic of levels, not an arithmetic mean needing one digit more)
            ch.places = 0
        lo, hi = cfg["ch"][0]["range"]
        ms = self.sample_ms = max(cfg["sample_s"] * 1000, _REAL_MS * hal.speed)
        # levels half-way between the period's marks: where station ticks and the wall clock
        # share an anchor (the unix port) a record holds exactly report_s / period of them
        now = hal.ticks_ms()
        self.tick = now - now % ms + ms // 2
        self.total = array("f", (0, 0, 0, 0, 0, lo, hi, 0))  # float32: an ESP32's float
        self.counts = array("H", bytes(2 * int((hi - lo) * 2)))

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
        v = self.values
        value = v[0]
        for i in range(1, len(v)):
            v[i] = value  # the base decoded each channel: one float kept, not six
        s = self.total
        if value is None or not s[_LO] <= value <= s[_HI]:  # NaN fails too
            s[_BAD] = 1
            return
        if s[_N] == 0 or value > s[_MX]:
            s[_MX] = value
        if s[_N] == 0 or value < s[_MN]:
            s[_MN] = value
        s[_N] += 1
        s[_NEW] += 1
        s[_E] += 10 ** (value / 10)
        d = self.counts
        # a level on a bin's edge (0.1 dB steps) is in that bin
        i = min(len(d) - 1, int((value - s[_LO]) * 2 + 0.0001))
        if d[i] == 0xFFFF:
            for j in range(len(d)):
                d[j] >>= 1
        d[i] += 1

    def sample(self, now):
        """The station's sample tick: True when levels came since the last one. Each column
        then counts the tick (with a level in range); its value is set by close()."""
        s = self.total
        if not s[_NEW]:
            return False
        s[_NEW] = 0
        v = self.values
        value = s[_MX]
        for i in range(len(v)):
            v[i] = value
        return True

    def close(self, win):
        """The period ends: each column's window gets its statistic as its mean (total =
        value * n); then a new period."""
        s = self.total
        d = self.counts
        vals = None
        if s[_N]:
            total = sum(d)
            # nearest ranks, lowest first: l90 (10 %), l50, l10 (90 %)
            ranks = (max(1, -(-total // 10)), max(1, -(-total // 2)), max(1, -(-9 * total // 10)))
            got = [0.0, 0.0, 0.0]
            seen = 0
            idx = 0
            for i in range(len(d)):
                seen += d[i]
                while idx < 3 and seen >= ranks[idx]:
                    got[idx] = s[_LO] + i * 0.5
                    idx += 1
            # 10*log10(x) as ln(x) * 10/ln(10)
            vals = (math.log(s[_E] / s[_N]) * 4.342944819032518, s[_MX], s[_MN], got[2],
                    got[1], got[0])
        i = 0
        for ch in self.channels:
            k = ch.k
            if k >= 0:
                if s[_BAD]:
                    win.flags[k] |= 1
                if vals and win.n[k]:
                    win.total[k] = vals[i] * win.n[k]
                    if win.mn is not None:  # backlog.minmax: a statistic is its own min, max
                        win.mn[k] = win.mx[k] = vals[i]
            i += 1
        s[_E] = s[_N] = s[_BAD] = 0
        for i in range(len(d)):
            d[i] = 0
