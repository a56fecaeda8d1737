"""An independent Modbus peer for real transmitters' quirks: pymodbus's RTU server with
sparse register maps, silence where a real probe gives none, and the behaviours a
datasheet describes (a measurement only after a trigger, data only after START).

Register words are written by the tests by hand from the datasheets' bytes; nothing here
encodes a value. Requests are recorded with their arrival time (monotonic seconds).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fw_harness import SerialServer

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

    def write(self, address: int, values: list[int]) -> None:
        """Keep the layout equal to what the server holds after a write to it."""
        for first, words in self.holding.items():
            if first <= address and address + len(values) <= first + len(words):
                words[address - first:address - first + len(values)] = values


NOBODY = 246  # a wire address no peer slave answers: where a moved slave's old address goes


class QuirkPeer:
    def __init__(self, path: str, slaves: dict[int, Slave], baud: int = 9600) -> None:
        from pymodbus.simulator import DataType, SimData, SimDevice

        self.slaves = slaves
        self.requests: list[Request] = []
        self.zero_reads: list[Request] = []
        self._lock = threading.Lock()
        self._pending_zero: set[int] = set()
        # a slave given a new address (readdress) or reached by a broadcast address: the wire
        # address -> the server's device id, and what the reply must carry
        self._wire: dict[int, int] = {}
        self._moved: set[int] = set()
        self.broadcasts: dict[int, int] = {}  # broadcast address -> the one slave obeying it
        self._reply_as: dict[int, int] = {}

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
            packet = self._inbound(packet) if not sending else packet
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
            return self._outbound(packet)

        self._server = SerialServer(path, devices, baud, trace, name="quirk-peer")

    def readdress(self, device: int, wire: int) -> None:
        """From now on the slave `device` answers at `wire`, no longer at its old address."""
        with self._lock:
            self._wire = {w: d for w, d in self._wire.items() if d != device}
            if wire != device:
                self._wire[wire] = device
                self._moved.add(device)
            else:
                self._moved.discard(device)

    def _inbound(self, packet: bytes) -> bytes:
        if len(packet) < 4:
            return packet
        wire = packet[0]
        with self._lock:
            device = self._wire.get(wire, self.broadcasts.get(wire))
            if device is None:
                if wire not in self._moved:
                    self._reply_as.pop(wire, None)
                    return packet
                device = NOBODY
            self._reply_as[device] = wire  # 0: a broadcast gets no reply
        body = bytes((device,)) + packet[1:-2]
        return body + crc16(body)

    def _outbound(self, packet: bytes) -> bytes:
        with self._lock:
            wire = self._reply_as.pop(packet[0], None)
        if wire is None or wire == packet[0]:
            return packet
        if wire == 0:
            return b""
        body = bytes((wire,)) + packet[1:-2]
        return body + crc16(body)

    async def _action(self, slave: int, function_code: int, start_address: int, address: int,
                      count: int, current_registers: list[int], set_values) -> None:
        req = Request(time.monotonic(), slave, function_code, address, count,
                      list(set_values) if set_values is not None else None)
        with self._lock:
            self.requests.append(req)
        if req.values is not None and function_code in (6, 16):
            self.slaves[slave].write(address, req.values)
        behaviour = self.slaves[slave].behaviour
        if behaviour is not None:
            behaviour(req, current_registers, start_address, self)
        return None

    def seen(self, slave: int) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.slave == slave]

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> QuirkPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
