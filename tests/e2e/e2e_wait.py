"""Waiting on the real stack, shared by the end-to-end tests: data takes a few report periods
to travel sensor → firmware → broker → collector → InfluxDB, and a time-out must say what was
awaited."""

from __future__ import annotations

import time

import pytest


def wait_for(what: str, fn, timeout: float):
    """fn()'s first true value, polled every half second; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
