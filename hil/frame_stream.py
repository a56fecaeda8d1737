"""A streaming sensor of the rarer frame families, simulated from its catalog data alone.

- `hpma` (Honeywell HPMA115S0 auto-send): 0x42 0x4D 0x00 0x1C, 13 big-endian words with PM2.5
  in the second and PM10 in the third (bytes 6-7, 8-9), the others 0, then the 16-bit sum of
  the 30 bytes before it. Values as hil/pm_stream.py makes them (PM2.5 a share of PM10).
- `ze` (Winsen ZE03/ZE07/ZE08 active upload): 0xFF, then the bytes the catalog's `match`
  names (gas code at 1, unit code at 2), the decimals at 3, the concentration and the full
  range as big-endian words at 4 and 6, and the two's complement of the sum of bytes 1..7.
  The concentration is the value divided by the channel's `scale` (ppb from a ppm module: /
  1000), with as many decimals (up to 2) as 16 bits hold.
- `hpmaqa` (the HPMA115S0 read on request): silent until the station sends the catalog's
  periodic request, then 0x40 0x05 0x04, PM2.5 and PM10 big-endian, the two's complement of
  the sum of bytes 0..6; with `match` [1, 13] (the HPMA115C0) 0x40 0x0D 0x04 and 16 bytes,
  each channel's word at its `field`'s byte (w3 w5 w7 w9).
- `bm` (a 0x42 0x4D frame of the length its `match` gives at bytes 2-3: PMS3003, PMS5003ST):
  each channel's word at its `field`'s byte (wN unsigned, sN two's complement), the value
  divided by the channel's `scale`, the other words 0, the 16-bit sum of the bytes before.
  PM values as hil/pm_stream.py makes them, the others from hil/signals.py.
- `zeqa` (the same modules' Q&A mode): silent until the station sends the catalog's
  periodic request (its `send` entry with `every_ms`), then one reply 0xFF 0x86, big-endian
  words at 2, 4, 6 (the channel's `field` word = value / scale), the `match` bytes over them
  (ZE03: the gas code at 4), the checksum as above.

No model has code of its own here: a new catalog file of one of these families is simulated
as it is. Values come from hil/signals.py (`pin` fixes one), wire faults from hil/faults.py.
"""

from __future__ import annotations

import struct
import threading

from hil import signals
from hil.pm_stream import PmStream, Source
from hil.ports import Port

FAMILIES = ("hpma", "hpmaqa", "ze", "zeqa", "bm")
_PM = ("hpma", "hpmaqa")    # values as hil/pm_stream.py makes them
_FRACTIONS = ("pm1", "pm2_5", "pm10")
_ASKED = ("hpmaqa", "zeqa")  # a reply per request, nothing unasked
HPMA_HEADER = b"\x42\x4d\x00\x1c"


class FrameStream(PmStream):
    """Streams (hpma, ze) or answers (zeqa) `model`'s frames on `port` from a thread.

    A PmStream to hil/station.py (a stream has its UART to itself, starts with a port)."""

    def __init__(self, model: dict, port: Port | None, source: Source | None = None) -> None:
        if model.get("bus") != "stream" or model["stream"]["frame"] not in FAMILIES:
            raise ValueError(f"model {model.get('model')!r} is not a stream of "
                             f"{', '.join(FAMILIES)}")
        self.model = model
        self.name = model["model"]
        self.family = model["stream"]["frame"]
        self.period_s = model["stream"]["period_ms"] / 1000
        self.port = port
        self.channels = {ch["param"]: ch for ch in model["channels"]}
        self.source = source or signals.source(medium="air")
        self.device_id = 0
        self.pinned = {}
        self.faults = None
        self.frames = 0
        self.requests = 0
        self.match = {m["position"]: m["byte"] for m in model["stream"].get("match", [])}
        asks = [bytes.fromhex(c["bytes"]) for c in model["stream"].get("send", [])
                if c["every_ms"]]
        self.request = asks[0] if asks else None
        if self.family in _ASKED and self.request is None:
            raise ValueError(f"{self.name}: a {self.family} model sends a read request "
                             "(stream.send with every_ms); the simulator answers only that")
        self._lock = threading.Lock()
        self._init_worker()

    def __repr__(self) -> str:
        return f"FrameStream({self.name!r}, {getattr(self.port, 'path', None)!r})"

    def pin(self, param: str, value: float) -> None:
        if self.family in _PM or (self.family == "bm" and param in _FRACTIONS):
            # whole ug/m3 in a 16-bit word
            if param not in ("pm1", "pm2_5", "pm10") or not 0 <= value <= 0xFFFF or \
                    value != round(value):
                raise ValueError(f"{self.name}: {param}={value!r}: the hpma frame carries "
                                 "pm2_5 and pm10 as whole ug/m3 in 0..65535")
            with self._lock:
                self.pinned[param] = float(value)
            return
        if param not in self.channels:
            raise KeyError(f"{self.name} has no channel {param!r}; it has "
                           f"{', '.join(self.channels)}")
        ch = self.channels[param]
        counts = value / ch.get("scale", 1)
        lo, hi = (-0x8000, 0x7FFF) if ch["field"].startswith("s") else (0, 0xFFFF)
        if not lo <= counts <= hi:
            raise ValueError(f"{self.name}: {param}={value!r} is {counts:g} in the frame's unit, "
                             f"outside the {lo}..{hi} its word carries")
        with self._lock:
            self.pinned[param] = float(value)

    def values(self) -> dict[str, float]:
        if self.family in _PM:
            return super().values()
        with self._lock:
            pinned = dict(self.pinned)
        out = super().values() if self.family == "bm" else {}
        for param, ch in self.channels.items():
            lo, hi = ch["range"]
            if param in out:
                continue
            if param in pinned:
                out[param] = pinned[param]
                continue
            try:
                v = float(self.source(param))
            except KeyError:  # hil.signals.UnknownSignal: a quiet low reading
                v = lo + (hi - lo) / 100
            if self.faults is not None:
                v = self.faults.value(param, v)
            out[param] = min(hi, max(lo, v))
        return out

    def frame(self) -> bytes:
        v = self.values()
        if self.family == "hpma":
            return hpma_frame(v["pm2_5"], v["pm10"])
        if self.family == "hpmaqa":
            n = self.match.get(1, 5)
            body = bytearray(bytes((0x40, n, 0x04)) + bytes(n - 1))
            for c in self.channels.values():
                at = {"pm2_5": 3, "pm10": 5}.get(c["field"]) or int(c["field"][1:])
                struct.pack_into(">H", body, at, min(0xFFFF, round(v[c["param"]])))
            return bytes(body) + bytes((-sum(body) & 0xFF,))
        if self.family == "bm":
            return bm_frame(self.match, {c["field"]: v[c["param"]] / c.get("scale", 1)
                                         for c in self.channels.values()})
        ch = next(iter(self.channels.values()))
        if self.family == "ze":
            return ze_frame(self.match, v[ch["param"]] / ch.get("scale", 1),
                            ch["range"][1] / ch.get("scale", 1))
        words = [0, 0, 0]
        for c in self.channels.values():
            words[("w2", "w4", "w6").index(c["field"])] = round(v[c["param"]] /
                                                                c.get("scale", 1))
        return zeqa_frame(self.match, words)

    def _run(self, port: Port) -> None:
        if self.family not in _ASKED:
            super()._run(port)
            return
        heard = b""
        while not self._stop.is_set():
            try:
                heard = (heard + port.read(64, 0.1))[-64:]
            except OSError:  # the port closed under us: stopping
                return
            while self.request in heard:
                heard = heard.split(self.request, 1)[1]
                self.requests += 1
                self._send(port, self.frame())


def _ze_sum(frame: bytes | bytearray) -> int:
    return -sum(frame[1:8]) & 0xFF


def ze_frame(match: dict[int, int], conc: float, full: float) -> bytes:
    """An active-upload frame for a concentration in the module's unit."""
    dec = 2
    while dec and max(round(conc * 10 ** dec), round(full * 10 ** dec)) > 0xFFFF:
        dec -= 1
    buf = bytearray(9)
    buf[0] = 0xFF
    struct.pack_into(">HH", buf, 4, min(0xFFFF, round(conc * 10 ** dec)),
                     min(0xFFFF, round(full * 10 ** dec)))
    buf[3] = dec
    for pos, b in match.items():
        buf[pos] = b
    buf[8] = _ze_sum(buf)
    return bytes(buf)


def zeqa_frame(match: dict[int, int], words: list[int]) -> bytes:
    """A Q&A reply with the words at bytes 2, 4, 6 and the model's match bytes over them."""
    buf = bytearray(b"\xff\x86" + struct.pack(">3H", *(min(0xFFFF, w) for w in words)) + b"\0")
    for pos, b in match.items():
        buf[pos] = b
    buf[8] = _ze_sum(buf)
    return bytes(buf)


def bm_frame(match: dict[int, int], words: dict[str, float]) -> bytes:
    """A 0x42 0x4D frame of the length match[2], match[3] give, each word ("w10", "s30") at
    its byte, the rest 0, the 16-bit sum of the bytes before it."""
    n = match[2] << 8 | match[3]
    buf = bytearray(b"\x42\x4d" + struct.pack(">H", n) + bytes(n))
    for name, x in words.items():
        if name.startswith("s"):
            struct.pack_into(">h", buf, int(name[1:]), max(-0x8000, min(0x7FFF, round(x))))
        else:
            struct.pack_into(">H", buf, int(name[1:]), max(0, min(0xFFFF, round(x))))
    struct.pack_into(">H", buf, n + 2, sum(buf[:n + 2]) & 0xFFFF)
    return bytes(buf)


def hpma_frame(pm2_5: float, pm10: float) -> bytes:
    words = [0, min(0xFFFF, round(pm2_5)), min(0xFFFF, round(pm10))] + [0] * 10
    body = HPMA_HEADER + struct.pack(">13H", *words)
    return body + struct.pack(">H", sum(body) & 0xFFFF)
