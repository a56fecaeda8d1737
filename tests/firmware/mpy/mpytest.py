"""Tiny test runner for MicroPython scripts: PASS/FAIL lines for the CPython side."""

import sys


def eq(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def raises(exc, fn, *args):
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError(f"{exc.__name__} not raised")


class Clock:
    """Scripted monotonic ticks and wall clock (None: not set)."""

    speed = 1

    def __init__(self):
        self.ms = 0
        self.t = None

    def ticks_ms(self):
        return self.ms

    def io_ticks_ms(self):
        return self.ms

    def ticks_add(self, a, b):
        return a + b

    def ticks_diff(self, a, b):
        return a - b

    def epoch(self):
        return None if self.t is None else self.t + self.ms // 1000


def run(g):
    """Run every test_* in the module globals g (or those named on the command line)."""
    only = [a for a in sys.argv[1:] if a.startswith("test_")]
    for name in sorted(g):
        if name.startswith("test_") and (not only or name in only):
            try:
                g[name]()
                print("PASS", name)
            except Exception as e:
                print(f"FAIL {name}: {type(e).__name__} {e}")
