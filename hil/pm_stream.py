"""A laser particulate sensor that streams a frame every `stream.period_ms`, both families.

- `pms` (PMS5003 family): 0x42 0x4D, frame length 28 (big-endian), 13 big-endian words
  (pm1, pm2.5, pm10 "CF=1"; pm1, pm2.5, pm10 atmospheric; particle counts per 0.1 L above
  0.3/0.5/1/2.5/5/10 µm; reserved), then a 16-bit sum of every preceding byte. 32 bytes.
- `sds` (SDS011 family): 0xAA 0xC0, PM2.5 and PM10 as value × 10 little-endian, two id bytes,
  an 8-bit sum of those six data bytes, 0xAB. 10 bytes.

Unpinned, PM2.5 and PM1 follow PM10 with the fine fractions typical of traffic and sea-salt air
on the coast (about 0.6 and 0.4 of PM10). A source that knows `pm2_5` (a recorded day replayed
by hil/replay.py) drives the fine fraction instead, and PM10 follows it by the same ratio, so
pm1 ≤ pm2.5 ≤ pm10 always holds.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable

from hil import signals
from hil.modbus_slave import Faults
from hil.ports import Port
from hil.worker import PortWorker

Source = Callable[[str], float]

PMS_HEADER = b"\x42\x4d"
SDS_HEADER = b"\xaa\xc0"
SDS_TAIL = 0xAB
PM25_OF_PM10 = signals.PM25_OF_PM10
PM1_OF_PM25 = signals.PM1_OF_PM25
# Indoor-calibrated "CF=1" values read higher than the atmospheric ones in humid air.
CF1_OF_ATM = 1.1
# The largest value and the resolution each family's frame carries.
LIMITS = {"pms": 0xFFFF, "sds": 0xFFFF / 10}
RESOLUTION = {"pms": 1.0, "sds": 0.1}
FRACTIONS = ("pm1", "pm2_5", "pm10")


class PmStream(PortWorker):
    """Streams `model`'s frames into `port` from a thread; channels can be pinned.

    `port` may be None until start() (SimulatedStation builds its simulators before its ptys,
    so values can be pinned first); set `.port` before starting.
    """

    def __init__(self, model: dict, port: Port | None, source: Source | None = None,
                 device_id: int = 0x1234) -> None:
        if model.get("bus") != "stream":
            raise ValueError(f"model {model.get('model')!r} is not a streaming model")
        self.model = model
        self.name = model["model"]
        self.family = model["stream"]["frame"]
        if self.family not in LIMITS:
            raise ValueError(f"{self.name}: frame family {self.family!r} is not pms|sds")
        self.period_s = model["stream"]["period_ms"] / 1000
        self.port = port
        self.channels = {ch["param"]: ch for ch in model["channels"]}
        self.source: Source = source or signals.source(medium="air")
        self.device_id = device_id
        self.pinned: dict[str, float] = {}
        self.faults: Faults | None = None  # hil.faults.FaultSet: value and wire faults
        self.frames = 0
        self._lock = threading.Lock()
        self._init_worker()

    def __repr__(self) -> str:
        return f"PmStream({self.name!r}, {getattr(self.port, 'path', None)!r})"

    @property
    def params(self) -> list[str]:
        return list(self.channels)

    def pin(self, param: str, value: float) -> None:
        """Report exactly value for pm1, pm2_5 or pm10, whether or not the catalog reads it
        (an sds frame carries no PM1: pinning it changes nothing on the wire)."""
        if param not in self.channels and param not in FRACTIONS:
            raise KeyError(f"{self.name} has no channel {param!r}; it has "
                           f"{', '.join(self.channels)} (and carries {', '.join(FRACTIONS)})")
        step = RESOLUTION[self.family]
        if not 0 <= value <= LIMITS[self.family] or abs(value / step - round(value / step)) > 1e-6:
            raise ValueError(f"{self.name}: {param}={value!r} is not a multiple of {step} in "
                             f"0..{LIMITS[self.family]}: the {self.family} frame cannot carry it")
        with self._lock:
            self.pinned[param] = float(value)

    def unpin(self, param: str | None = None) -> None:
        with self._lock:
            if param is None:
                self.pinned.clear()
            else:
                self.pinned.pop(param, None)

    def values(self) -> dict[str, float]:
        """pm1, pm2_5, pm10 (ug/m3) as the next frame will carry them."""
        with self._lock:
            pinned = dict(self.pinned)
        pm10 = pinned.get("pm10")
        lo, hi = self.channels["pm10"]["range"] if "pm10" in self.channels else (0, 1000)
        fine = pinned.get("pm2_5")
        if fine is None:
            fine = self._fine_from_source()
        if pm10 is None:
            pm10 = float(self.source("pm10")) if fine is None else fine / PM25_OF_PM10
            pm10 = min(hi, max(lo, pm10))
        if self.faults is not None:
            faulty = self.faults.value("pm10", pm10)
            if faulty != pm10:
                pm10 = min(hi, max(lo, faulty))
        pm2_5 = min(pm10, pm10 * PM25_OF_PM10) if fine is None else fine
        if "pm2_5" not in pinned:
            pm2_5 = min(pm2_5, pm10)
        pm1 = pinned.get("pm1", min(pm2_5, pm2_5 * PM1_OF_PM25))
        return {"pm1": pm1, "pm2_5": pm2_5, "pm10": pm10}

    def _fine_from_source(self) -> float | None:
        """PM2.5 from the source when it has a signal for it (a replayed day), else None."""
        try:
            return max(0.0, float(self.source("pm2_5")))
        except KeyError:  # hil.signals.UnknownSignal: the fine fraction follows PM10
            return None

    def frame(self) -> bytes:
        v = self.values()
        if self.family == "pms":
            return pms_frame(v["pm1"], v["pm2_5"], v["pm10"])
        return sds_frame(v["pm2_5"], v["pm10"], self.device_id)

    def start(self) -> None:
        if self.port is None:
            raise RuntimeError(f"{self!r}: no port to stream into")
        self._launch(f"pm-stream {self.port.path}", self.port)

    def _run(self, port: Port) -> None:
        while not self._stop.is_set():
            self._send(port, self.frame())
            self._stop.wait(self.period_s)

    def _send(self, port: Port, frame: bytes | None) -> None:
        """One frame onto the wire, through the wire faults if any (hil.faults: unplugged,
        slow, checksum, garbled …)."""
        if self.faults is not None:
            delay, frame = self.faults.wire(frame, self.family)
            if delay and self._stop.wait(delay):
                return
        try:
            if frame is not None:
                port.write(frame)
                self.frames += 1
        except OSError:  # the port closed under us (stopping) or the line is down: no frame
            pass


def pms_frame(pm1: float, pm2_5: float, pm10: float) -> bytes:
    atm = [round(pm1), round(pm2_5), round(pm10)]
    cf1 = [min(0xFFFF, round(x * CF1_OF_ATM)) for x in (pm1, pm2_5, pm10)]
    # Counts per 0.1 L of air: fine particles dominate, each size class a fraction of the last.
    n03 = min(0xFFFF, round(pm1 * 60 + pm2_5 * 15))
    counts = [n03]
    for share in (0.3, 0.2, 0.12, 0.3, 0.3):
        counts.append(round(counts[-1] * share))
    # the coarse mode above 2.5 µm comes from the PM10 - PM2.5 mass
    counts[3] = min(counts[2], max(counts[3], round((pm10 - pm2_5) * 0.8)))
    words = [*cf1, *atm, *(min(0xFFFF, c) for c in counts), 0x9700]
    body = PMS_HEADER + struct.pack(">H13H", 2 * 13 + 2, *words)
    return body + struct.pack(">H", sum(body) & 0xFFFF)


def sds_frame(pm2_5: float, pm10: float, device_id: int = 0x1234) -> bytes:
    data = struct.pack("<HHH", min(0xFFFF, round(pm2_5 * 10)), min(0xFFFF, round(pm10 * 10)),
                       device_id & 0xFFFF)
    return SDS_HEADER + data + bytes((sum(data) & 0xFF, SDS_TAIL))
