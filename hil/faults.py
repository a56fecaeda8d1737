"""Field faults for one simulated sensor, switched on and off by station time.

Two places where a fault acts, both inside the simulator so the firmware sees nothing but bytes:

- the **wire** (`FaultSet.wire`): what a reply or stream frame becomes on its way out —
  `silence` (no answer, with probability p), `unplug` (no answer, no frames, the whole window),
  `slow` (the answer comes `delay_ms` late), `crc` (checksum corrupted), `garble` (random bytes
  overwritten), `truncate` (the frame cut short), `wrong_id` (a Modbus reply from another
  slave address, CRC recomputed so only the address is wrong);
- the **value** (`FaultSet.value`): what the transmitter measures — `stuck` (frozen at the first
  value of the window), `drift` (`rate` units per hour added), `spike` (`size` added for
  `width` every `every`), `calibration` (span gas: the reading goes to `level`; the runner sends
  the station `cal_start`/`cal_stop`), `episode` (a pollution episode: the reading ramps up to
  `level` over `ramp`, holds, ramps back down before the window ends).

Windows are [start, end) in station epoch seconds (hil.fastclock). Random choices come from a
seeded generator, so a scenario repeats. `applied` counts what each fault did, so a run can
show that every fault it claims to test actually fired.
"""

from __future__ import annotations

import math
import random
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hil import modbus_rtu as rtu

WIRE = ("silence", "unplug", "slow", "crc", "garble", "truncate", "wrong_id")
VALUE = ("stuck", "drift", "spike", "calibration", "episode", "unavailable")
KINDS = WIRE + VALUE
FAMILIES = ("modbus", "pms", "sds")
# keys each kind accepts beyond its window; values are (type, required)
PARAMS: dict[str, dict[str, tuple[type, bool]]] = {
    "silence": {"p": (float, False)},
    "unplug": {},
    "slow": {"delay_s": (float, True), "p": (float, False)},
    "crc": {"p": (float, False)},
    "garble": {"p": (float, False), "bytes": (int, False)},
    "truncate": {"p": (float, False), "keep": (int, False)},
    "wrong_id": {"address": (int, True), "p": (float, False)},
    "stuck": {"param": (str, True)},
    "drift": {"param": (str, True), "rate": (float, True)},
    "spike": {"param": (str, True), "size": (float, True), "every_s": (float, False),
              "width_s": (float, False)},
    "calibration": {"param": (str, True), "level": (float, True)},
    "episode": {"param": (str, True), "level": (float, True), "ramp_s": (float, False)},
    "unavailable": {"param": (str, True)},
}


class FaultError(ValueError):
    """A fault description the simulator cannot play (names the key)."""


@dataclass(frozen=True)
class Fault:
    kind: str
    start: float
    end: float
    param: str = ""
    p: float = 1.0          # share of replies/frames affected (wire faults)
    delay_s: float = 0.0    # slow
    bytes: int = 2          # garble: bytes overwritten
    keep: int = -1          # truncate: bytes kept; -1: half the frame
    address: int = 0        # wrong_id
    rate: float = 0.0       # drift, units per hour
    size: float = 0.0       # spike height
    every_s: float = 0.0    # spike period; 0: one spike at the window's start
    width_s: float = 0.0    # spike length; 0: one report period is the caller's choice
    level: float = 0.0      # calibration span value, episode peak
    ramp_s: float = 0.0     # episode ramp up and down

    def active(self, t: float) -> bool:
        return self.start <= t < self.end

    def describe(self) -> str:
        what = f"{self.kind}({self.param})" if self.param else self.kind
        return what if self.p >= 1 or self.kind not in WIRE else f"{what} p={self.p:g}"


def make(kind: str, start: float, end: float, where: str = "fault", **given: object) -> Fault:
    """A checked Fault; FaultError names `where`, the key and the value."""
    if kind not in KINDS:
        raise FaultError(f"{where}.fault: {kind!r} is not one of {', '.join(KINDS)}")
    if not end > start:
        raise FaultError(f"{where}: the window ends ({end}) before it starts ({start})")
    allowed = PARAMS[kind]
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in allowed:
            raise FaultError(f"{where}.{key}: not a setting of {kind} "
                             f"(known: {', '.join(allowed) or 'none'})")
        typ = allowed[key][0]
        if typ is float and isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or isinstance(value, bool):
            raise FaultError(f"{where}.{key}: {value!r} should be a {typ.__name__}")
        out[key] = value
    for key, (_, required) in allowed.items():
        if required and key not in out:
            raise FaultError(f"{where}.{key}: missing (required by {kind})")
    p = out.get("p", 1.0)
    if not isinstance(p, float) or not 0 < p <= 1:
        raise FaultError(f"{where}.p: {p!r} is not a probability in (0, 1]")
    for key in ("delay_s", "every_s", "width_s", "ramp_s"):
        if out.get(key, 0.0) < 0:
            raise FaultError(f"{where}.{key}: {out[key]!r} must not be negative")
    if kind == "wrong_id" and not 1 <= out["address"] <= 247:
        raise FaultError(f"{where}.address: {out['address']!r} is not a slave address 1..247")
    if kind == "garble" and not 1 <= out.get("bytes", 2) <= 32:
        raise FaultError(f"{where}.bytes: {out['bytes']!r} is not 1..32")
    if kind == "truncate" and out.get("keep", 0) < 0:
        raise FaultError(f"{where}.keep: {out['keep']!r} must not be negative")
    return Fault(kind, float(start), float(end), **out)


class FaultSet:
    """The faults of one simulator, judged against a station clock."""

    def __init__(self, clock: Callable[[], float], seed: int = 0, name: str = "") -> None:
        self.clock = clock
        self.name = name
        self.faults: list[Fault] = []
        self.applied: Counter[Fault] = Counter()
        self._rng = random.Random(seed)
        self._stuck: dict[Fault, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FaultSet({self.name!r}, {[f.describe() for f in self.faults]})"

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def active(self, t: float | None = None) -> list[Fault]:
        t = self.clock() if t is None else t
        return [f for f in self.faults if f.active(t)]

    # -- value faults ------------------------------------------------------------------------

    def value(self, param: str, v: float) -> float:
        """What the transmitter reports for param when it would measure v now."""
        t = self.clock()
        for f in self.faults:
            if f.kind not in VALUE or f.param != param or not f.active(t):
                continue
            before = v
            v = self._apply_value(f, v, t)
            if v != before:
                with self._lock:
                    self.applied[f] += 1
        return v

    def _apply_value(self, f: Fault, v: float, t: float) -> float:
        if f.kind == "stuck":
            with self._lock:
                return self._stuck.setdefault(f, v)
        if f.kind == "drift":
            return v + f.rate * (t - f.start) / 3600.0
        if f.kind == "spike":
            phase = (t - f.start) % f.every_s if f.every_s else t - f.start
            return v + f.size if phase < (f.width_s or (f.end - f.start)) else v
        if f.kind == "calibration":
            return f.level
        if f.kind == "unavailable":  # the slave sends its "no value" word (slave_quirks)
            return math.nan
        # episode: a trapezoid from the signal up to the peak and back
        ramp = min(f.ramp_s, (f.end - f.start) / 2)
        share = 1.0 if ramp <= 0 else min(1.0, (t - f.start) / ramp, (f.end - t) / ramp)
        return v + (f.level - v) * max(0.0, share)

    # -- wire faults -------------------------------------------------------------------------

    def wire(self, frame: bytes, family: str = "modbus") -> tuple[float, bytes | None]:
        """(extra delay in s, the bytes to send or None for silence) for one outgoing frame."""
        t = self.clock()
        delay = 0.0
        out: bytes | None = frame
        for f in self.faults:
            if f.kind not in WIRE or not f.active(t) or out is None:
                continue
            with self._lock:
                if f.p < 1 and self._rng.random() >= f.p:
                    continue
                self.applied[f] += 1
                if f.kind in ("silence", "unplug"):
                    out = None
                elif f.kind == "slow":
                    delay += f.delay_s
                else:
                    out = self._mangle(f, out, family)
        return delay, out

    def _mangle(self, f: Fault, frame: bytes, family: str) -> bytes:
        """crc, garble, truncate, wrong_id on one frame (called with the lock held)."""
        buf = bytearray(frame)
        if f.kind == "crc":
            at = 8 if family == "sds" else len(buf) - 1  # sds: sum byte before the 0xAB tail
            buf[at] ^= 0x5A
        elif f.kind == "garble":
            for _ in range(min(f.bytes, len(buf))):
                i = self._rng.randrange(len(buf))
                buf[i] = (buf[i] + self._rng.randrange(1, 256)) & 0xFF
        elif f.kind == "truncate":
            keep = len(buf) // 2 if f.keep < 0 else f.keep
            del buf[max(0, min(keep, len(buf) - 1)):]
        elif f.kind == "wrong_id":
            if family != "modbus":
                return bytes(buf)
            body = bytes((f.address,)) + bytes(buf[1:-2])
            return rtu.with_crc(body)
        return bytes(buf)


def frame_ok(frame: bytes, family: str) -> bool:
    """Whether a frame is still one a receiver accepts: header, length and check (for tests
    of the mangling)."""
    if family == "modbus":
        return rtu.crc_ok(frame)
    if family == "pms":
        return (len(frame) == 32 and frame[:4] == b"\x42\x4d\x00\x1c"
                and sum(frame[:-2]) & 0xFFFF == struct.unpack(">H", frame[-2:])[0])
    return (len(frame) == 10 and frame[:2] == b"\xaa\xc0" and frame[9] == 0xAB
            and sum(frame[2:8]) & 0xFF == frame[8])
