"""An independent Modbus peer for real transmitters' quirks: pymodbus's RTU server with
sparse register maps, silence where a real probe gives none, and the behaviours a
datasheet describes (a measurement only after a trigger, data only after START).

Register words are written by the tests by hand from the datasheets' bytes; nothing here
encodes a value. Requests are recorded with their arrival time (monotonic seconds).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Blocks = dict[int, list[int]]  # first register -> words
# (the request, the registers of the block it reads or writes, that block's first register,
# the peer) -> None; it may change the registers before they are answered
Behaviour = Callable[["Request", list[int], int, "QuirkPeer"], None]


def crc16(data: bytes) -> bytes:
    """CRC-16/MODBUS (poly 0xA001, init 0xFFFF), low byte first."""
    c = 0xFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
    return bytes((c & 0xFF, c >> 8))


@dataclass
class Request:
    t: float
    slave: int
    fn: int
    address: int
    count: int
    values: list[int] | None = None


@dataclass
class Slave:
    holding: Blocks = field(default_factory=dict)
    input: Blocks = field(default_factory=dict)
    silent: bool = False        # no answer at all for a register it does not map (Yosemitech)
    zero_read_reply: bool = False  # answers an FC03 read of 0 registers (Yosemitech start)
    behaviour: Behaviour | None = None


class QuirkPeer:
    def __init__(self, path: str, slaves: dict[int, Slave], baud: int = 9600) -> None:
        from pymodbus.server import ModbusSerialServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        self.slaves = slaves
        self.requests: list[Request] = []
        self.zero_reads: list[Request] = []
        self._lock = threading.Lock()
        self._pending_zero: set[int] = set()

        def table(blocks: Blocks) -> list:
            if not blocks:  # pymodbus wants every table non-empty
                return [SimData(60000, values=[0], datatype=DataType.REGISTERS)]
            return [SimData(a, values=list(v), datatype=DataType.REGISTERS)
                    for a, v in sorted(blocks.items())]

        bits = [SimData(60000, values=[False], datatype=DataType.BITS)]
        devices = [SimDevice(addr, simdata=(bits, bits, table(s.holding), table(s.input)),
                             action=functools.partial(self._action, addr))
                   for addr, s in slaves.items()]

        def trace(sending: bool, packet: bytes) -> bytes:
            if not packet:
                return packet
            slave = self.slaves.get(packet[0])
            if not sending:
                if slave is not None and len(packet) >= 8 and packet[1] == 3 \
                        and packet[4:6] == b"\x00\x00":
                    with self._lock:
                        self.zero_reads.append(Request(time.monotonic(), packet[0], 3,
                                                       packet[2] << 8 | packet[3], 0))
                        self._pending_zero.add(packet[0])
                return packet
            if slave is None:
                return b""  # an absent address says nothing
            with self._lock:
                zero = packet[0] in self._pending_zero
                self._pending_zero.discard(packet[0])
            if zero and slave.zero_read_reply:
                body = bytes((packet[0], 3, 0))
                return body + crc16(body)
            if packet[1] & 0x80 and (slave.silent or zero):
                return b""
            return packet

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

        self._thread = threading.Thread(target=run, name="quirk-peer", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error:
            self._thread.join(timeout=5)
            self._loop.close()
            raise RuntimeError(f"pymodbus serial server on {path} did not start: {self._error}")

    async def _action(self, slave: int, function_code: int, start_address: int, address: int,
                      count: int, current_registers: list[int], set_values) -> None:
        req = Request(time.monotonic(), slave, function_code, address, count,
                      list(set_values) if set_values is not None else None)
        with self._lock:
            self.requests.append(req)
        behaviour = self.slaves[slave].behaviour
        if behaviour is not None:
            behaviour(req, current_registers, start_address, self)
        return None

    def seen(self, slave: int) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.slave == slave]

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.server.shutdown(), self._loop)
        fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
