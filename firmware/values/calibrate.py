# Calibration as versioned data per channel, from the config's "cal" section:
#
#   {"so2": {"v": 3, "offset": -1.5, "slope": 1.02}}      true = raw * slope + offset
#   {"ph":  {"v": 7, "points": [[4.1, 4.0], [7.2, 7.0], [10.1, 10.0]]}}
#
# Points are piecewise linear between neighbours (raw strictly increasing, checked by
# config.check_cal); beyond the first or last point the end segment is extended. The version
# travels in the birth and health events, so a record can be traced to the calibration in force.

from array import array
from micropython import const

_NONE = const(0)
_LINEAR = const(1)
_POINTS = const(2)


class Calibration:
    def __init__(self, cal, params):
        """cal: the config's "cal" dict; params: the parameter of each record column."""
        n = len(params)
        self.kind = bytearray(n)
        self.versions = {}
        # most stations calibrate nothing: then the per-column tables are not made at all
        # (25 B a column), apply() only ever looks at kind
        self.offset = self.slope = self.points = None
        if not any(p in cal for p in params):
            return
        self.offset = array("d", bytes(8 * n))
        self.slope = array("d", [1.0] * n)
        self.points = [None] * n          # array("d", [raw0, true0, raw1, true1, ...])
        for k, p in enumerate(params):
            c = cal.get(p)
            if c is None:
                continue
            self.versions[p] = c["v"]
            if "points" in c:
                flat = array("d")
                for raw, true in c["points"]:
                    flat.append(raw)
                    flat.append(true)
                self.points[k] = flat
                self.kind[k] = _POINTS
            else:
                self.offset[k] = c.get("offset", 0)
                self.slope[k] = c.get("slope", 1)
                self.kind[k] = _LINEAR

    def apply(self, k, value):
        """The calibrated value of raw sample `value` of column k (None stays None)."""
        kind = self.kind[k]
        if value is None or kind == _NONE:
            return value
        if kind == _LINEAR:
            return value * self.slope[k] + self.offset[k]
        pts = self.points[k]
        last = len(pts) - 4
        i = 0
        while i < last and value > pts[i + 2]:
            i += 2
        r0 = pts[i]
        t0 = pts[i + 1]
        return t0 + (value - r0) * (pts[i + 3] - t0) / (pts[i + 2] - r0)
