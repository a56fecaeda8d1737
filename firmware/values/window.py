# Samples of every recorded channel over one averaging period -> mean, min, max, n, status,
# flags. One Windows object holds all channels as columns (arrays), so nine parameters cost a
# few hundred bytes of heap instead of nine objects with a dict each; channel k is its column.
#
# Flag bits are protocol v1's station-side flags: OUT_OF_RANGE (1) some samples were outside
# the sensor's range and were discarded, INCOMPLETE (2) fewer than 75 % of the expected samples
# were valid, OFFLINE (4) the device was offline when the period closed (set by the sampler).
# Status is Circular 10/2021's: 0 measuring, 1 calibrating (calibration mode at any time in the
# period), 2 device error (no valid sample at all).

from array import array
from micropython import const

_OUT_OF_RANGE = const(1)
_INCOMPLETE = const(2)
OFFLINE = 4
REBASED = 8     # record-level: time rebased from monotonic ticks (station/sampler.py)

_MEASURING = const(0)
CALIBRATING = 1
_DEVICE_ERROR = const(2)


class Windows:
    def __init__(self, ranges, minmax):
        """ranges: [(lo, hi)] per column; samples outside are discarded and flagged. minmax:
        keep each column's min and max (backlog.minmax); without, mn and mx are None (16 B a
        column less)."""
        n = len(ranges)
        self.count = n
        # float32, as an ESP32's floats are (half the bytes of doubles); an end float32 cannot
        # hold exactly moves out by a step, so a sample on the range's end stays inside
        lo = self.lo = array("f", [r[0] for r in ranges])
        hi = self.hi = array("f", [r[1] for r in ranges])
        for k in range(n):
            if lo[k] > ranges[k][0]:
                lo[k] -= abs(lo[k]) / 4194304
            if hi[k] < ranges[k][1]:
                hi[k] += abs(hi[k]) / 4194304
        self.total = array("d", bytes(8 * n))
        self.mn = self.mx = None
        if minmax:
            self.mn = array("d", bytes(8 * n))
            self.mx = array("d", bytes(8 * n))
        self.n = array("H", bytes(2 * n))
        self.flags = bytearray(n)
        self.status = bytearray(n)
        self.calibrating = bytearray(n)   # 1: the channel is in calibration mode now
        self.cal_seen = bytearray(n)      # calibration mode at some time in this period
        self.reset()

    def reset(self):
        """Open a new period for every column."""
        for k in range(self.count):
            self.total[k] = 0.0
            self.n[k] = 0
            self.flags[k] = 0
            self.cal_seen[k] = self.calibrating[k]

    def add(self, k, value):
        """One sample of column k; None (undecodable) or outside [lo, hi] is flagged, dropped."""
        if value is None or not self.lo[k] <= value <= self.hi[k]:  # NaN fails the comparison too
            self.flags[k] |= _OUT_OF_RANGE
            return False
        n = self.n[k]
        mn = self.mn
        if mn is not None:
            if n == 0 or value < mn[k]:
                mn[k] = value
            if n == 0 or value > self.mx[k]:
                self.mx[k] = value
        if n < 0xFFFF:
            self.n[k] = n + 1
        self.total[k] += value
        return True

    def close(self, k, expected):
        """Freeze column k: sets status[k] and the _INCOMPLETE flag; the mean or None.

        expected is how many samples a full period holds (report_s // sample_s)."""
        n = self.n[k]
        if n * 4 < expected * 3:
            self.flags[k] |= _INCOMPLETE
        if self.cal_seen[k] or self.calibrating[k]:
            self.status[k] = CALIBRATING
        else:
            self.status[k] = _MEASURING if n else _DEVICE_ERROR
        return self.total[k] / n if n else None
