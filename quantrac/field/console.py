"""The board's console: watch what it prints (optionally from a fresh boot) for a while, or
hand the terminal to mpremote's interactive REPL.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import serial

CTRL_C, CTRL_D = b"\x03", b"\x04"


def watch(port: str, seconds: float, reset: bool = False, baud: int = 115200,
          out: Callable[[bytes], None] | None = None) -> bytes:
    """Everything the board prints for `seconds`; with `reset`, after a soft reboot into its
    firmware (Ctrl-C stops what runs, Ctrl-D in the friendly REPL reboots and runs main.py)."""
    out = out or (lambda b: (sys.stdout.buffer.write(b), sys.stdout.flush()))
    seen = bytearray()
    try:
        line = serial.Serial(port, baudrate=baud, timeout=0.1)
    except (serial.SerialException, ValueError) as e:
        raise OSError(f"{port}: cannot open the serial port ({e})") from None
    with line:
        if reset:
            line.write(b"\r" + CTRL_C + CTRL_C)
            time.sleep(0.2)
            line.write(b"\x02")  # Ctrl-B: the friendly REPL, where Ctrl-D runs main.py
            time.sleep(0.1)
            line.reset_input_buffer()
            line.write(CTRL_D)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = line.read(4096)
            if data:
                seen += data
                out(data)
    return bytes(seen)


def interactive(port: str) -> None:
    """Replace this process with mpremote's REPL on `port` (115200 baud; Ctrl-] leaves it)."""
    os.execv(sys.executable, [sys.executable, "-m", "mpremote", "connect", port, "repl"])
