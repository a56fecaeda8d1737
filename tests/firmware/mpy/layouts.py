# Record layouts for the MicroPython-side tests, built as station/assemble.py builds them.

from station.record import DEC24, Layout, encoding, header


def layout(params, units, minmax=False, specs=None, p=300, nb=6):
    """specs: (lo, hi, places, dynamic) per column (station/record.py encoding()); None:
    every column a generic dec24, for tests that only look at slots as bytes."""
    encs = [encoding(*s) for s in specs] if specs else [(DEC24, 0, 24, 0)] * len(params)
    return Layout(header(params, units, minmax, encs, p, nb))
