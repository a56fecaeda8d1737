"""A MicroPython board on a serial port, through mpremote's own transport (raw REPL).

`BoardLink` is what flashing files, commissioning and the console share: connect (interrupting
whatever runs, soft reset into a clean interpreter), run code and read what it prints, write,
hash, list and remove files, and hand the board back to its firmware. Paths are relative to
the board's working directory (the flash root on an ESP32).
"""

from __future__ import annotations

import ast
import hashlib
import time
from collections.abc import Callable

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

CHUNK = 512  # bytes per write; each one is a round trip through the raw REPL
CONNECT_TRIES_S = 1.0
# Longest single read. mpremote reads a pty byte by byte without asking what is waiting, so
# without a read timeout a board that falls silent would hold it (and us) forever.
READ_TIMEOUT_S = 2.0


class BoardError(RuntimeError):
    """The board is not there, does not answer as MicroPython, or a command failed on it."""


class BoardLink:
    def __init__(self, port: str, baud: int = 115200, wait_s: float = 0.0,
                 soft_reset: bool = True) -> None:
        """`wait_s`: keep trying that long (a board still booting after esptool reset it)."""
        self.port = port
        self.t: SerialTransport | None = None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.t = SerialTransport(port, baudrate=baud, timeout=READ_TIMEOUT_S)
            except TransportError as e:
                why = (f"{port}: cannot open the serial port ({e}); is the board plugged in "
                       "and the port right?")
            else:
                try:
                    self.t.enter_raw_repl(soft_reset=soft_reset)
                    return
                except TransportError as e:
                    self.t.close()
                    self.t = None
                    why = (f"{port}: no MicroPython REPL answered ({e}); is MicroPython flashed, "
                           "and is nothing else using the port?")
            if time.monotonic() >= deadline:
                raise BoardError(why)
            time.sleep(CONNECT_TRIES_S)

    def __enter__(self) -> BoardLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.t is None:
            return
        try:
            if self.t.in_raw_repl:
                self.t.exit_raw_repl()
        finally:
            self.t.close()
            self.t = None

    def run(self, code: str, timeout_s: float = 10.0,
            output: Callable[[bytes], None] | None = None) -> bytes:
        """Run `code` on the board; what it printed. `timeout_s`: longest silence allowed."""
        try:
            out, err = self.t.exec_raw(code, timeout=timeout_s, data_consumer=output)
        except TransportError as e:
            raise BoardError(f"{self.port}: {e}") from None
        if err:
            raise BoardError(f"{self.port}: the board raised:\n{err.decode(errors='replace')}")
        return out

    def value(self, expression: str):
        """A Python literal the board computes (its repr, parsed here)."""
        return ast.literal_eval(self.run(f"print(repr({expression}))").decode().strip())

    def write(self, remote: str, data: bytes) -> None:
        self._dirs(remote)
        try:
            self.t.fs_writefile(remote, data, chunk_size=CHUNK)
        except (TransportExecError, OSError) as e:
            raise BoardError(f"{self.port}: cannot write {remote} ({e}); is the flash full?") \
                from None

    def sha256(self, remote: str) -> str | None:
        """The file's sha256 as the board computes it; None when there is no such file."""
        try:
            digest = self.t.fs_hashfile(remote, "sha256")
        except OSError:
            return None
        except TransportExecError as e:
            raise BoardError(f"{self.port}: cannot hash {remote}: {e}") from None
        return bytes(digest).hex()

    def files(self, top: str = "") -> list[str]:
        """Every file under `top` (folders walked)."""
        out: list[str] = []
        try:
            entries = self.t.fs_listdir(top)
        except (TransportExecError, OSError) as e:
            raise BoardError(f"{self.port}: cannot list {top or '/'} ({e})") from None
        for e in entries:
            path = f"{top}/{e.name}" if top else e.name
            if e.st_mode & 0x4000:
                out += self.files(path)
            else:
                out.append(path)
        return sorted(out)

    def remove(self, remote: str) -> None:
        try:
            self.t.fs_rmfile(remote)
        except (TransportExecError, OSError) as e:
            raise BoardError(f"{self.port}: cannot remove {remote} ({e})") from None

    def free_bytes(self) -> int | None:
        try:
            return self.value("(lambda s: s[0] * s[3])(__import__('os').statvfs(''))")
        except (BoardError, ValueError, SyntaxError):
            return None

    def _dirs(self, remote: str) -> None:
        parts = remote.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if not self.t.fs_isdir(d):
                try:
                    self.t.fs_mkdir(d)
                except (TransportExecError, OSError) as e:
                    raise BoardError(f"{self.port}: cannot create folder {d} ({e})") from None

    def restart_firmware(self) -> None:
        """Soft reset in the friendly REPL: the board boots its main.py, as after power-on."""
        self.t.exit_raw_repl()
        self.t.serial.write(b"\x04")
        self.t.close()
        self.t = None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
