"""The station's end of a simulated sensor's pty, as the firmware opens it: what the hil stream
tests read their frames through (each test parses them with its own datasheet parser)."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

import pytest


def read_frames(path: str, parse: Callable[[bytes], list[dict]], count: int,
                ask: bytes | None = None, timeout_s: float = 15.0) -> list[dict]:
    """Every frame `parse` finds in what came, once there are `count`; `ask` (a Q&A module's
    read request) is sent every 0.3 s when given. Fails the test, with the bytes that came,
    when fewer arrive within `timeout_s`."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    buf, next_ask = b"", 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if ask and time.monotonic() >= next_ask:
                os.write(fd, ask)
                next_ask = time.monotonic() + 0.3
            if select.select([fd], [], [], 0.1)[0]:
                buf += os.read(fd, 256)
                frames = parse(buf)
                if len(frames) >= count:
                    return frames
    finally:
        os.close(fd)
    pytest.fail(f"only {len(parse(buf))} of {count} frames in {timeout_s} s: {buf.hex(' ')}")
