"""The unix-port HAL sets the line a catalog model asks for: every standard speed, 7 or 8 data
bits, no/even/odd parity, one or two stop bits.

The speed and the stop bits are read back with CPython's termios from a pty the HAL opened.
A Linux pty forces CS8 and clears PARENB whatever it is asked (drivers/tty/pty.c
pty_set_termios), so the data bits and the parity are read where a USB RS-485 adapter's
driver would get them: the TCSETS call the firmware process makes, as strace shows it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import termios

import pytest
from fw_harness import HEAP, MICROPYTHON, MPY_TESTS, RawPty, mpy_env, run_mpy

STRACE = shutil.which("strace")


def open_through_hal(pty: RawPty, tmp_path, *line: object) -> tuple[list[str], set[str]]:
    """uart_line.py's words, and the c_cflag flags of the last TCSETS it made (strace)."""
    trace = tmp_path / "ioctl.log"
    proc = subprocess.run(
        [STRACE, "-f", "-qq", "-v", "-e", "trace=ioctl", "-o", str(trace),
         str(MICROPYTHON), "-X", HEAP, str(MPY_TESTS / "uart_line.py"), pty.path,
         *map(str, line)],
        env=mpy_env(), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sets = [ln for ln in trace.read_text().splitlines() if re.search(r"TCSETSW?F?2?,", ln)]
    assert sets, trace.read_text()
    cflag = re.search(r"c_cflag=([^,}]+)", sets[-1])
    assert cflag, sets[-1]
    return proc.stdout.split(), set(cflag[1].strip().split("|"))


def line_settings(pty: RawPty) -> tuple[int, int, int]:
    """(c_cflag, input speed, output speed) of the pty as the kernel holds them now."""
    fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY)
    try:
        attr = termios.tcgetattr(fd)
    finally:
        os.close(fd)
    return attr[2], attr[4], attr[5]


@pytest.mark.skipif(STRACE is None, reason="needs strace to see the c_cflag a pty drops")
@pytest.mark.parametrize("baud, bits, parity, stop, speed", [
    (4800, 8, "N", 1, termios.B4800),      # DFRobot SEN0710, a T/RH transmitter at 4800
    (9600, 8, "E", 1, termios.B9600),      # XY-MD02 lots shipped 8E1
    (19200, 8, "N", 2, termios.B19200),    # Vaisala HMP: 19200 8N2
    (9600, 8, "N", 2, termios.B9600),      # Aqualabo: 9600 8N2
    (2400, 7, "O", 1, termios.B2400),
    (1200, 8, "N", 1, termios.B1200),
    (57600, 8, "N", 1, termios.B57600),
    (115200, 8, "O", 2, termios.B115200),
])
def test_the_hal_sets_speed_data_bits_parity_and_stop_bits(tmp_path, baud, bits, parity, stop,
                                                           speed):
    pty = RawPty()
    try:
        out, flags = open_through_hal(pty, tmp_path, baud, bits, parity, stop)
        cflag, ispeed, ospeed = line_settings(pty)
    finally:
        pty.close()
    assert out[0] == "opened", out
    assert (ispeed, ospeed) == (speed, speed)           # what the kernel keeps
    assert bool(cflag & termios.CSTOPB) == (stop == 2)
    assert f"B{baud}" in flags                          # what the HAL asked for
    assert ("CS8" if bits == 8 else "CS7") in flags
    assert ("PARENB" in flags) == (parity != "N")
    assert ("PARODD" in flags) == (parity == "O")
    assert ("CSTOPB" in flags) == (stop == 2)
    assert {"CREAD", "CLOCAL"} <= flags
    # one character: start, data, parity and stop bits
    assert int(out[1]) == (1 + bits + (parity != "N") + stop) * 1000000 // baud
    assert out[2] == "False"  # the termios numbers left the heap once the UART was open


def test_a_speed_the_kernel_cannot_set_is_refused_naming_the_key():
    pty = RawPty()
    try:
        out = run_mpy("uart_line.py", pty.path, "14400", "8", "N", "1")
    finally:
        pty.close()
    assert out.startswith("refused uarts.rs485.baud: 14400 is not a speed the unix port"), out

