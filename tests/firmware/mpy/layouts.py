# Record layouts for the MicroPython-side tests, built as station/assemble.py builds them.

from station.assemble import encoding, header
from station.record import Layout


def layout(params, units, minmax=False, specs=None, p=300, nb=6):
    """specs: (lo, hi, places, dynamic) per column (station/record.py encoding()); None:
    every column a generic dec24 (3), for tests that only look at slots as bytes."""
    encs = [encoding(*s) for s in specs] if specs else [(3, 0, 24, 0)] * len(params)
    return Layout(header(params, units, minmax, encs, p, nb))


def slot_t(slot):
    """A slot's t (bytes 0-3, little-endian)."""
    return slot[0] | slot[1] << 8 | slot[2] << 16 | slot[3] << 24
