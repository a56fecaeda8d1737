"""Byte pipes between a simulator and a station: a pty pair, or a real serial adapter.

The simulators only need `read(max_bytes, timeout_s)`, `write(data)`, `close()` and a `path`
to hand to the firmware, so a USB RS-485 adapter wired to a real board can stand where the pty
stands (`SerialPort`).
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import select
import termios
import time
import tty
from typing import Protocol, runtime_checkable


@runtime_checkable
class Port(Protocol):
    """One end of a serial line, as a simulator sees it."""

    path: str

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Up to max_bytes that arrived within timeout_s; b"" when the line stayed silent."""
        ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class PtyPort:
    """A raw pty pair: the firmware opens `.path` (the slave), the simulator uses `.fd`.

    Our side keeps the slave open too, so the firmware opening and closing its end never leaves
    the master without a peer (a master with no slave open reads EIO on Linux).

    `rx_limit` models the station UART's receive buffer: bytes nobody reads pile up in the pty's
    input queue, and after a stall a real board sees fresh bytes, not minutes-old frames. When a
    write would push the unread input past the limit, the stale input is dropped first (the
    ESP32 driver does the same on overflow). None keeps everything up to the kernel's buffer.
    """

    def __init__(self, rx_limit: int | None = 512) -> None:
        self.fd, self._slave_fd = os.openpty()
        self.path = os.ttyname(self._slave_fd)
        self.rx_limit = rx_limit
        self.dropped = 0  # bytes discarded by the rx_limit overflow rule
        _make_raw(self._slave_fd)  # on Linux the master shares the slave's settings
        os.set_blocking(self.fd, False)

    def fileno(self) -> int:
        return self.fd

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if self.fd < 0:
            raise OSError(errno.EBADF, f"{self.path}: port is closed")
        ready, _, _ = select.select([self.fd], [], [], max(timeout_s, 0.0))
        if not ready:
            return b""
        try:
            return os.read(self.fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            # No slave open (cannot happen while we hold ours, but a closed pair reads EIO):
            # behave like a silent line instead of spinning.
            time.sleep(max(timeout_s, 0.0))
            return b""

    def pending_input(self) -> int:
        """Bytes written towards the firmware that it has not read yet."""
        buf = array.array("i", [0])
        fcntl.ioctl(self._slave_fd, termios.FIONREAD, buf, True)
        return buf[0]

    def write(self, data: bytes) -> None:
        if self.fd < 0:
            raise OSError(errno.EBADF, f"{self.path}: port is closed")
        if self.rx_limit is not None and self.pending_input() + len(data) > self.rx_limit:
            self.dropped += self.pending_input()
            termios.tcflush(self._slave_fd, termios.TCIFLUSH)
        view = memoryview(data)
        deadline = time.monotonic() + 1.0
        while view:
            try:
                n = os.write(self.fd, view)
                view = view[n:]
            except BlockingIOError:
                # Kernel buffer full with rx_limit=None: wait briefly, then drop the rest as an
                # unread UART would, rather than block the simulator thread forever.
                if time.monotonic() > deadline:
                    self.dropped += len(view)
                    return
                select.select([], [self.fd], [], 0.05)

    def close(self) -> None:
        for fd in (self.fd, self._slave_fd):
            if fd >= 0:
                os.close(fd)
        self.fd = self._slave_fd = -1

    def __enter__(self) -> PtyPort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PtyPort({self.path!r})"


def _make_raw(fd: int) -> None:
    """Raw 8-bit, no echo, no CR/LF translation, reads return whatever has arrived."""
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(termios.ICRNL | termios.INLCR | termios.IGNCR | termios.IXON | termios.IXOFF
                  | termios.ISTRIP | termios.BRKINT | termios.PARMRK | termios.INPCK)
    attrs[1] &= ~(termios.OPOST | termios.ONLCR | termios.OCRNL)
    attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class SerialPort:
    """A real serial port (a USB RS-485 adapter wired to a board) behind the same interface."""

    def __init__(self, path: str, baud: int = 9600, bits: int = 8, parity: str = "N",
                 stop: int = 1) -> None:
        import serial  # pyserial; imported here so pty-only runs never need it

        self.path = path
        self._serial = serial.Serial(path, baudrate=baud, bytesize=bits, parity=parity,
                                     stopbits=stop, timeout=0)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        self._serial.timeout = max(timeout_s, 0.0)
        first = self._serial.read(1)
        if not first:
            return b""
        self._serial.timeout = 0
        return first + self._serial.read(max_bytes - 1)

    def write(self, data: bytes) -> None:
        self._serial.write(data)
        self._serial.flush()

    def close(self) -> None:
        self._serial.close()

    def __repr__(self) -> str:
        return f"SerialPort({self.path!r})"
