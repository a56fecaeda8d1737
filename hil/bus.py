"""One RS-485 line with several simulated slaves on it, served from a thread.

The master's bytes are cut into frames the way a slave's UART driver does it: a request whose
function code fixes its length (01–06, and 15/16 from their byte count) ends when that many
bytes are in; anything else ends at the 3.5-character silent gap. A frame whose CRC fails is
hunted through byte by byte (a transceiver switching direction can emit a stray 0x00 before
the address), and what never checks out is dropped in silence, as real slaves do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from hil import modbus_rtu as rtu
from hil.modbus_slave import ModbusSlave
from hil.ports import Port
from hil.worker import PortWorker

log = logging.getLogger(__name__)

MAX_ADU = 256
# A pty hands over whatever the writer wrote in one call, but a busy machine can pause a writer
# for several ms between calls: the gap is never shorter than this, so jitter cannot split one
# request into two bad ones.
MIN_GAP_S = 0.01


def silent_gap_s(baud: int) -> float:
    """3.5 character times at 11 bits per character; fixed at 1.75 ms above 19200 baud."""
    return 0.00175 if baud > 19200 else 3.5 * 11 / baud


class ModbusBus(PortWorker):
    """Serve every slave on `port`; replies go out after `turnaround_s`."""

    def __init__(self, port: Port, slaves: Iterable[ModbusSlave] = (), baud: int = 9600,
                 turnaround_s: float = 0.004) -> None:
        self.port = port
        self.turnaround_s = turnaround_s
        self.gap_s = max(silent_gap_s(baud), MIN_GAP_S)
        self.slaves: dict[int, ModbusSlave] = {}
        self.stats = {"frames": 0, "replies": 0, "absent": 0, "dropped_bytes": 0,
                      "silenced": 0}
        self._late: dict[int, tuple[float, bytes]] = {}  # address -> (due, reply)
        self._init_worker()
        for s in slaves:
            self.add(s)

    def add(self, slave: ModbusSlave) -> None:
        if slave.address in self.slaves:
            raise ValueError(f"address {slave.address} on {self.port.path} is taken by "
                             f"{self.slaves[slave.address]!r}; cannot add {slave!r}")
        self.slaves[slave.address] = slave

    def __repr__(self) -> str:
        return f"ModbusBus({self.port.path!r})"

    def start(self) -> None:
        self._launch(f"modbus-bus {self.port.path}")

    def _run(self) -> None:
        buf = bytearray()
        last_rx = time.monotonic()
        while not self._stop.is_set():
            wait = self.gap_s if buf else 0.1
            if self._late:
                due = min(d for d, _ in self._late.values())
                wait = max(0.0, min(wait, due - time.monotonic()))
            try:
                chunk = self.port.read(MAX_ADU, wait)
            except OSError as e:
                if self._stop.is_set():
                    return
                log.warning("bus %s: read failed (%s); still serving", self.port.path, e)
                time.sleep(0.1)
                continue
            if chunk:
                last_rx = time.monotonic()
                buf += chunk
                if len(buf) > MAX_ADU:  # a babbling line: no request is this long
                    self.stats["dropped_bytes"] += len(buf) - MAX_ADU
                    del buf[:-MAX_ADU]
                self._take(buf, at_gap=False)
            elif buf and time.monotonic() - last_rx >= self.gap_s:
                self._take(buf, at_gap=True)
            self._send_late()

    def _send_late(self) -> None:
        """Replies a slow slave (hil.faults `slow`) sends once their delay has passed."""
        now = time.monotonic()
        for address, (due, reply) in list(self._late.items()):
            if due <= now:
                del self._late[address]
                self._write(address, reply)

    def _take(self, buf: bytearray, at_gap: bool) -> None:
        """Dispatch every whole frame at the head of buf; at a gap, nothing may stay behind."""
        while buf:
            n = rtu.request_length(buf)
            if n is None or len(buf) < n:
                if not at_gap:
                    return
                if n is None and rtu.crc_ok(bytes(buf)):
                    self._dispatch(bytes(buf))
                    buf.clear()
                    return
            else:
                frame = bytes(buf[:n])
                if rtu.crc_ok(frame):
                    del buf[:n]
                    self._dispatch(frame)
                    continue
            del buf[0]
            self.stats["dropped_bytes"] += 1

    def _dispatch(self, frame: bytes) -> None:
        self.stats["frames"] += 1
        try:
            req = rtu.parse_request(frame)
        except rtu.FrameError as e:
            log.debug("bus %s: %s", self.port.path, e)
            return
        if req.slave == 0:  # broadcast: every slave acts, none answers
            for s in list(self.slaves.values()):
                s.handle(req)
            # a lone slave given an address by broadcast (modbus.setup.broadcast) moves
            self.slaves = {s.address: s for s in self.slaves.values()}
            return
        slave = self.slaves.get(req.slave)
        if slave is None:
            self.stats["absent"] += 1
            return
        # A slave still working on a late reply drops it when a new request reaches it, as
        # a transmitter restarting its receive state machine does.
        self._late.pop(req.slave, None)
        reply = slave.handle(req)
        if slave.address != req.slave:  # it took a new address: answer there from now on
            self.slaves.pop(req.slave, None)
            self.slaves[slave.address] = slave
        if reply is None:
            return
        if slave.faults is not None:  # hil.faults: silence, slow, crc, garble, wrong id …
            delay, reply = slave.faults.wire(reply, "modbus")
            if reply is None:
                self.stats["silenced"] += 1
                return
            if delay > 0:  # answered later, while the bus goes on serving the others
                self._late[req.slave] = (time.monotonic() + self.turnaround_s + delay, reply)
                return
        time.sleep(self.turnaround_s)
        self._write(req.slave, reply)

    def _write(self, address: int, reply: bytes) -> None:
        try:
            self.port.write(reply)
            self.stats["replies"] += 1
        except OSError as e:
            if not self._stop.is_set():
                log.warning("bus %s: reply from %d lost (%s)", self.port.path, address, e)
