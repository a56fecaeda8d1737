"""A MicroPython board on a pty, for the tools that talk to real ones (mpremote, commissioning).

The laptop side opens `.path` as it would /dev/ttyUSB0. This side answers as MicroPython's REPL
does (shared/runtime/pyexec.c): the friendly REPL with its banner and `>>> `; Ctrl-A to the raw
REPL (`raw REPL; CTRL-B to exit\\r\\n>`, code + Ctrl-D → `OK` + output + `\\x04` + error +
`\\x04>`), Ctrl-B back, Ctrl-C to interrupt a running program or clear the input, Ctrl-D on an
empty input for a soft reset (boot.py, then main.py in friendly mode, as a board does). A
raw-paste request (`\\x05A\\x01`) is answered "not supported" (`R\\x00`), so clients fall back to
the plain raw REPL.

The code runs in the MicroPython unix port (`board_agent.py`), one process per soft reset, with
its working directory in `flash` (the board's filesystem: what mpremote copies lands there and
the board imports from there). A UART path in the board's config.json reaches a hil simulator
on another pty, because the unix-port HAL opens paths. Output is "cooked" (\\n → \\r\\n) like a
board's console.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import subprocess
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

from hil.station import micropython_binary

AGENT = Path(__file__).with_name("board_agent.py")
DONE = b"\x1e\x1dQT-DONE "
BANNER = (b"MicroPython v1.29.0-preview (emulated) on unix; quantrac test board with the unix "
          b"port\r\nType \"help()\" for more information.\r\n")
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


class EmulatedBoard:
    """Start with `start()` (or `with`); `.path` is the serial device to hand to the tools."""

    def __init__(self, flash: Path, heap: str = "128k", autorun: bool = True) -> None:
        self.flash = Path(flash)
        self.flash.mkdir(parents=True, exist_ok=True)
        self.heap = heap
        self.autorun = autorun  # run boot.py and main.py at power-on, as a flashed board does
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.console = bytearray()  # everything the board wrote, for a failing test's message
        self.resets = 0
        self._mode = "friendly"
        self._line = bytearray()
        self._pending = bytearray()  # typed while a program ran (a UART's receive buffer)
        self._proc: subprocess.Popen | None = None
        self._out = bytearray()
        self._busy: Callable[[bytes], None] | None = None  # what to do when the job finishes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"board {self.path}",
                                        daemon=True)

    def start(self) -> EmulatedBoard:
        self._spawn()
        self._power_on()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self._kill()
        for fd in (self.master, self._slave):
            if fd >= 0:
                os.close(fd)
        self.master = self._slave = -1

    def __enter__(self) -> EmulatedBoard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def console_text(self) -> str:
        return self.console.decode(errors="replace")

    # the interpreter process

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [str(micropython_binary()), "-X", f"heapsize={self.heap}", str(AGENT)],
            cwd=self.flash, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        os.set_blocking(self._proc.stdout.fileno(), False)
        self._out.clear()
        self._busy = None

    def _kill(self) -> None:
        if self._proc is None:
            return
        self._proc.kill()
        self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout):
            f.close()
        self._proc = None

    def _job(self, mode: str, src: bytes | str, then: Callable[[bytes], None]) -> None:
        if self._proc is None:
            then(b"the interpreter is gone; reset the board\r\n")
            return
        data = src.encode() if isinstance(src, str) else bytes(src)
        self._busy = then
        try:
            self._proc.stdin.write(f"{mode} {len(data)}\n".encode() + data)
            self._proc.stdin.flush()
        except BrokenPipeError:
            self._busy = None
            then(b"board interpreter died\r\n")

    # boot

    def _power_on(self) -> None:
        self._mode = "friendly"
        self._boot()

    def _soft_reset(self) -> None:
        self.resets += 1
        self._kill()
        self._spawn()
        self._send(b"MPY: soft reboot\r\n")
        self._boot()

    def _boot(self) -> None:
        def after_main(err: bytes) -> None:
            self._send(err + BANNER + b">>> ")

        def after_boot(err: bytes) -> None:
            self._send(err)
            if self._mode == "raw":
                self._send(RAW_PROMPT)
            elif self.autorun and (self.flash / "main.py").exists():
                self._job("file", "main.py", after_main)
            else:
                after_main(b"")

        if self.autorun and (self.flash / "boot.py").exists():
            self._job("file", "boot.py", after_boot)
        else:
            after_boot(b"")

    # the serial line

    def _serve(self) -> None:
        while not self._stop.is_set():
            fds = [self.master] + ([self._proc.stdout] if self._proc else [])
            ready, _, _ = select.select(fds, [], [], 0.05)
            if self._proc and self._proc.stdout in ready:
                self._from_interpreter()
            if self.master in ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError as e:
                    if e.errno not in (errno.EIO, errno.EAGAIN):
                        raise
                    data = b""
                for b in data:
                    self._typed(b)
            while self._pending and self._busy is None:
                b = self._pending.pop(0)
                self._typed(b)

    def _from_interpreter(self) -> None:
        try:
            chunk = os.read(self._proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:  # the interpreter died (heap, crash): only a reset brings it back
            self._kill()
            then, self._busy = self._busy, None
            if then:
                then(b"interpreter exited\r\n")
            return
        self._out += chunk
        while True:
            at = self._out.find(DONE)
            if at < 0:
                # keep what may be the start of the marker, pass the rest on
                keep = self._out.rfind(b"\x1e")
                cut = keep if keep >= 0 and len(self._out) - keep < len(DONE) else len(self._out)
                self._send(cook(bytes(self._out[:cut])))
                del self._out[:cut]
                return
            self._send(cook(bytes(self._out[:at])))
            head_end = self._out.find(b"\n", at)
            if head_end < 0:
                del self._out[:at]
                return
            n = int(self._out[at + len(DONE):head_end])
            if len(self._out) < head_end + 1 + n:
                del self._out[:at]
                return
            err = bytes(self._out[head_end + 1:head_end + 1 + n])
            del self._out[:head_end + 1 + n]
            then, self._busy = self._busy, None
            if then:
                then(cook(err))

    def _typed(self, b: int) -> None:
        if self._busy is not None:
            if b == 0x03 and self._proc:  # Ctrl-C interrupts the running program
                self._proc.send_signal(signal.SIGINT)
            else:
                self._pending.append(b)
            return
        if self._mode == "raw":
            self._raw(b)
        else:
            self._friendly(b)

    def _raw(self, b: int) -> None:
        if b == 0x01:
            if bytes(self._line) == b"\x05A":
                self._send(b"R\x00")  # raw-paste understood, not supported: stay in raw REPL
            else:
                self._send(RAW_PROMPT)
            self._line.clear()
        elif b == 0x02:
            self._mode = "friendly"
            self._line.clear()
            self._send(b"\r\n" + BANNER + b">>> ")
        elif b == 0x03:
            self._line.clear()
        elif b == 0x04:
            self._send(b"OK")
            src, self._line = bytes(self._line), bytearray()
            if not src:
                self._send(b"\r\n")
                self._soft_reset()
            else:
                self._job("exec", src, lambda err: self._send(b"\x04" + err + b"\x04>"))
        else:
            self._line.append(b)

    def _friendly(self, b: int) -> None:
        if b == 0x01:
            self._mode = "raw"
            self._line.clear()
            self._send(b"\r\n" + RAW_PROMPT)
        elif b == 0x02:
            self._send(b"\r\n" + BANNER + b">>> ")
        elif b == 0x03:
            self._line.clear()
            self._send(b"\r\n>>> ")
        elif b == 0x04:
            if not self._line:
                self._send(b"\r\n")
                self._soft_reset()
        elif b in (0x0D, 0x0A):
            src, self._line = bytes(self._line), bytearray()
            self._send(b"\r\n")
            if src.strip():
                self._job("single", src, lambda err: self._send(err + b">>> "))
            else:
                self._send(b">>> ")
        elif b in (0x08, 0x7F):
            if self._line:
                self._line.pop()
                self._send(b"\x08 \x08")
        else:
            self._line.append(b)
            self._send(bytes([b]))

    def _send(self, data: bytes) -> None:
        """To the laptop; like a UART nobody reads, output is lost when the line stays full."""
        self.console += data
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view and self.master >= 0:
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                select.select([], [self.master], [], 0.05)


def cook(data: bytes) -> bytes:
    """A board's console turns every \\n into \\r\\n."""
    return data.replace(b"\n", b"\r\n")
