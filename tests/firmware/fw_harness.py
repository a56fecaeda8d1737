"""What the firmware tests need around the unix-port firmware: the MicroPython runner, ptys,
an independent Modbus slave (pymodbus) and particulate frames built from the datasheets.
The firmware process and the broker side are in fw_station.py.

Nothing here imports firmware code into CPython; fakes exist only where hardware would be
(the wire between the station and its sensors is a pty).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import struct
import subprocess
import threading
import tty
from collections.abc import Callable
from pathlib import Path

import fastjsonschema

ROOT = Path(__file__).resolve().parents[2]
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
FIRMWARE = ROOT / "firmware"
MPY_DEPS = ROOT / ".deps" / "micropython"
MPY_TESTS = Path(__file__).resolve().parent / "mpy"
SCHEMA = json.loads((ROOT / "docs" / "protocol-v1.schema.json").read_text())
HEAP = "heapsize=256k"


def mpy_env() -> dict[str, str]:
    return {**os.environ, "MICROPYPATH": f"{FIRMWARE}:{MPY_DEPS}"}


def run_mpy(script: str, *args: str, timeout: float = 60) -> str:
    """Run tests/firmware/mpy/<script> on the unix port; its stdout (fails on a non-zero exit)."""
    proc = subprocess.run([str(MICROPYTHON), "-X", HEAP, str(MPY_TESTS / script), *args],
                          env=mpy_env(), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f"{script} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def validator(kind: str = "data") -> Callable[[object], object]:
    """fastjsonschema validator for one protocol-v1 message kind (data, status, event…)."""
    schema = SCHEMA if kind == "data" else {**SCHEMA, "$ref": f"#/definitions/{kind}"}
    return fastjsonschema.compile(schema)


# ---- sensor bytes, from the datasheets ------------------------------------------------------

def pms_frame(words: list[int]) -> bytes:
    """0x42 0x4D, length 28, 13 big-endian words, 16-bit sum of every preceding byte."""
    assert len(words) == 13
    body = b"\x42\x4d" + struct.pack(">H13H", 28, *words)
    return body + struct.pack(">H", sum(body) & 0xFFFF)


def pms_words(pm10: int) -> list[int]:
    """A plausible PMS data block whose atmospheric PM10 (word 5) is pm10."""
    pm25, pm1 = pm10 * 6 // 10, pm10 * 4 // 10
    return [pm1, pm25, pm10, pm1, pm25, pm10, 3000, 900, 200, 30, 5, 1, 0x9700]


def sds_frame(pm25_x10: int, pm10_x10: int, device: int = 0x1234) -> bytes:
    """0xAA 0xC0, PM2.5 and PM10 (x10, little-endian), id, 8-bit sum of data, 0xAB."""
    data = struct.pack("<HHH", pm25_x10, pm10_x10, device)
    return b"\xaa\xc0" + data + bytes([sum(data) & 0xFF, 0xAB])


# Wire position of value bytes A B C D per word order (Telegraf's vocabulary).
WIRE = {"ABCD": (0, 1, 2, 3), "CDAB": (2, 3, 0, 1), "BADC": (1, 0, 3, 2), "DCBA": (3, 2, 1, 0)}
PACK = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}


def wire_bytes(raw: float, typ: str, order: str) -> bytes:
    """The register bytes a sensor sends for `raw` in `typ` and word `order`."""
    be = struct.pack(PACK[typ], raw)
    if len(be) == 2:
        return be[::-1] if order in ("BADC", "DCBA") else be
    out = bytearray(4)
    for value_index, wire_index in enumerate(WIRE[order]):
        out[wire_index] = be[value_index]
    return bytes(out)


def registers(wire: bytes) -> list[int]:
    return [int.from_bytes(wire[i:i + 2], "big") for i in range(0, len(wire), 2)]


# ---- ptys -----------------------------------------------------------------------------------

class RawPty:
    """A raw pty: the firmware opens .path, the test reads and writes .fd (the master)."""

    def __init__(self) -> None:
        self.fd, self._slave = os.openpty()
        self.path = os.ttyname(self._slave)
        tty.setraw(self._slave)  # our slave stays open: the master never sees EIO
        os.set_blocking(self.fd, False)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                select.select([], [self.fd], [], 0.05)

    def close(self) -> None:
        for fd in (self.fd, self._slave):
            if fd >= 0:
                os.close(fd)
        self.fd = self._slave = -1


class NullModem:
    """Two raw ptys joined master to master by a thread: .a.path <-> .b.path, like a cable."""

    def __init__(self) -> None:
        self.a, self.b = RawPty(), RawPty()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="null-modem", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        peer = {self.a.fd: self.b, self.b.fd: self.a}
        while True:
            ready, _, _ = select.select([self.a.fd, self.b.fd, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except (BlockingIOError, OSError):
                    continue
                if data:
                    peer[fd].write(data)

    def close(self) -> None:
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self.a.close()
        self.b.close()

    def __enter__(self) -> NullModem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- an independent Modbus slave --------------------------------------------------------------

class ModbusServer:
    """pymodbus's RTU serial server on `path`, one SimDevice per slave, in its own thread.

    `slaves` maps address -> (holding registers, input registers), both from register 0.
    Addresses not listed get no answer at all (like a dead or absent sensor).
    """

    def __init__(self, path: str, slaves: dict[int, tuple[list[int], list[int]]],
                 baud: int = 9600, actions: dict | None = None) -> None:
        """`actions`: address -> pymodbus SimDevice action (an async callable seeing every
        request before it is answered, with the live register list)."""
        from pymodbus.simulator import DataType, SimData, SimDevice

        def block(values: list[int]) -> list:
            # pymodbus wants every table non-empty: an unused one gets one far-away register,
            # so a read of it still gets exception 02 (illegal address)
            if not values:
                return [SimData(9000, values=[0], datatype=DataType.REGISTERS)]
            return [SimData(0, values=values, datatype=DataType.REGISTERS)]

        bits = [SimData(9000, values=[False], datatype=DataType.BITS)]
        devices = [SimDevice(addr, simdata=(bits, bits, block(hr), block(ir)),
                             action=(actions or {}).get(addr))
                   for addr, (hr, ir) in slaves.items()]
        def silence_unknown(sending: bool, packet: bytes) -> bytes:
            # pymodbus's simulator answers an unknown id with exception 04 despite
            # ignore_missing_devices; an absent sensor says nothing at all
            if sending and packet[:1] and packet[0] not in slaves:
                return b""
            return packet

        self._server = SerialServer(path, devices, baud, silence_unknown)

    def stop(self) -> None:
        self._server.stop()


class SerialServer:
    """pymodbus's RTU serial server on `path`, in a thread of its own with its own event loop
    (pymodbus binds its transport to the running loop, so it is built inside the thread);
    `trace` is pymodbus's trace_packet hook. Raises RuntimeError if it does not start."""

    def __init__(self, path: str, devices: list, baud: int,
                 trace: Callable[[bool, bytes], bytes], name: str = "pymodbus") -> None:
        from pymodbus.server import ModbusSerialServer

        self._loop = asyncio.new_event_loop()
        self.server = None
        self._error: BaseException | None = None
        self._ready = threading.Event()

        async def start() -> None:
            self.server = ModbusSerialServer(devices, port=path, baudrate=baud,
                                             ignore_missing_devices=True, reconnect_delay=0.2,
                                             trace_packet=trace)
            await self.server.serve_forever(background=True)

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(start())
            except BaseException as e:  # reported to the constructor's caller
                self._error = e
                self._ready.set()
                return
            self._ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            self._thread.join(timeout=5)
            self._loop.close()
            raise RuntimeError(f"pymodbus serial server on {path} did not start: {self._error}")

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.server.shutdown(), self._loop)
        fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


class FrameWriter:
    """Writes frame() into a pty every period_s from a thread, like a streaming sensor."""

    def __init__(self, port: RawPty, frame: Callable[[], bytes], period_s: float = 1.0) -> None:
        self.port, self.frame, self.period_s = port, frame, period_s
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frame-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.port.write(self.frame())
            self.sent += 1
            self._stop.wait(self.period_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
