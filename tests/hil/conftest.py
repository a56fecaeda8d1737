"""hil tests also must not leave simulator threads or ptys behind (the root conftest checks
threads and processes too; this adds ptys, which a forgotten PtyPort would leak)."""

from __future__ import annotations

import os
import threading
import time

import pytest


def _pty_fds() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == "/dev/ptmx" or target.startswith("/dev/pts/"):
            out.add(f"fd {fd} -> {target}")
    return out


@pytest.fixture(autouse=True)
def no_simulator_left_running():
    threads = set(threading.enumerate())
    ptys = _pty_fds()
    yield
    deadline = time.monotonic() + 3.0  # stop() joins; this only absorbs a slow thread exit
    while True:
        extra_threads = [t.name for t in threading.enumerate()
                         if t not in threads and t.is_alive()]
        extra_ptys = _pty_fds() - ptys
        if not (extra_threads or extra_ptys) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra_threads, f"test left threads running: {extra_threads}"
    assert not extra_ptys, f"test left ptys open: {sorted(extra_ptys)}"
