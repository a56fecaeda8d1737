# Samples of one channel over one averaging period -> mean, min, max, n, status, flags.
#
# Flag bits are protocol v1's station-side flags: OUT_OF_RANGE (1) some samples were outside
# the sensor's range and were discarded, INCOMPLETE (2) fewer than 75 % of the expected samples
# were valid, OFFLINE (4) the device was offline when the period closed (set by the sampler).
# Status is Circular 10/2021's: 0 measuring, 2 device error (no valid sample at all).

OUT_OF_RANGE = 1
INCOMPLETE = 2
OFFLINE = 4

MEASURING = 0
CALIBRATING = 1
DEVICE_ERROR = 2


class Window:
    def __init__(self, lo, hi):
        self.lo = lo
        self.hi = hi
        self.reset()

    def reset(self):
        self.n = 0
        self.total = 0.0
        self.mn = 0.0
        self.mx = 0.0
        self.flags = 0
        self.missed = 0      # polls that produced nothing (device silent, warming up)
        self.rejected = 0    # samples discarded as out of range or undecodable
        self.mean = None
        self.status = DEVICE_ERROR

    def add(self, x):
        """One sample; None (undecodable) or outside [lo, hi] is counted, flagged and dropped."""
        if x is None or not self.lo <= x <= self.hi:  # NaN fails the comparison too
            self.rejected += 1
            self.flags |= OUT_OF_RANGE
            return False
        if self.n == 0 or x < self.mn:
            self.mn = x
        if self.n == 0 or x > self.mx:
            self.mx = x
        self.n += 1
        self.total += x
        return True

    def miss(self):
        """A poll that produced no sample for this channel."""
        self.missed += 1

    def close(self, expected):
        """Freeze the period: sets mean/status/flags for the encoder. Call reset() afterwards.

        expected is how many samples a full period holds (report_s // sample_s); fewer than
        75 % of it valid sets INCOMPLETE.
        """
        if self.n * 4 < expected * 3:
            self.flags |= INCOMPLETE
        if self.n:
            self.mean = self.total / self.n
            self.status = MEASURING
        else:
            self.mean = None
            self.status = DEVICE_ERROR
        return self.status
