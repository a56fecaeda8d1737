"""Street noise for the sound-level simulators: a seeded, stateless 1 s A-weighted level.

    street = StreetNoise("night-market", seed=7)
    street.level(t)              # dB(A) at station epoch second t: same arguments, same number
    street.laeq(t0, t1)          # energy mean of the 1 s levels in [t0, t1): an independent check
    slave.source = street.source(clock)   # what a ModbusSlave of qt-sound-485 reads

A profile (hil/data/noise-profiles.json) is data: the background level by local hour (linear
between hour marks) and kinds of event (motorbikes, trucks, music, aircraft), each with its rate
per local hour, peak level and half-duration. Time is cut into 60 s slots; the events of a slot
(how many: Poisson at that hour's rate; when, how loud, how long) come from a generator seeded
by (seed, kind, slot), so the level at any second is a pure function of the time, the profile
and the seed. An event passes like a source on a straight line, peak − 10·log10(1 + (Δt/half)²),
and the background, the events and a per-second jitter add as energy.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROFILES = Path(__file__).resolve().parent / "data" / "noise-profiles.json"
SLOT_S = 60
REACH = 10  # an event counts within REACH half-durations of its centre (then < peak − 20 dB)
LOW_DB, HIGH_DB = 20.0, 140.0  # a level outside these is a wrong profile, not a street


class NoiseProfileError(ValueError):
    """A noise profile that cannot be used, naming the file and the key."""


@dataclass(frozen=True)
class Event:
    kind: str
    per_hour: tuple[float, ...]   # events an hour, by local hour 0..23
    peak: tuple[float, float]     # dB(A), drawn uniformly
    half_s: tuple[float, float]   # seconds, drawn uniformly


@dataclass(frozen=True)
class NoiseProfile:
    name: str
    about: str
    background: tuple[float, ...]  # dB(A) at each local hour mark 0..23
    jitter_db: float
    events: tuple[Event, ...]
    utc_offset_h: float = 7.0


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise NoiseProfileError(f"{where}: {msg}")


def _num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _hours(v: object, where: str, lo: float, hi: float) -> tuple[float, ...]:
    _need(isinstance(v, list) and len(v) == 24 and all(_num(x) and lo <= x <= hi for x in v),
          where, f"needs 24 numbers in {lo:g}..{hi:g}, one per local hour")
    return tuple(float(x) for x in v)


def _pair(v: object, where: str, lo: float, hi: float) -> tuple[float, float]:
    _need(isinstance(v, list) and len(v) == 2 and all(_num(x) for x in v)
          and lo <= v[0] <= v[1] <= hi, where, f"{v!r} is not [low, high] within {lo:g}..{hi:g}")
    return float(v[0]), float(v[1])


def _profile(name: str, doc: object, offset: float, where: str) -> NoiseProfile:
    _need(isinstance(doc, dict), where, "must be an object")
    assert isinstance(doc, dict)
    events = []
    for i, e in enumerate(doc.get("events", [])):
        w = f"{where}.events[{i}]"
        _need(isinstance(e, dict) and isinstance(e.get("kind"), str), w, "needs a kind")
        events.append(Event(e["kind"], _hours(e.get("per_hour"), w + ".per_hour", 0, 3600),
                            _pair(e.get("peak"), w + ".peak", LOW_DB, HIGH_DB),
                            _pair(e.get("half_s"), w + ".half_s", 0.1, SLOT_S)))
    jitter = doc.get("jitter_db", 0)
    _need(_num(jitter) and 0 <= jitter <= 10, where + ".jitter_db", f"{jitter!r} is not 0..10")
    return NoiseProfile(name, str(doc.get("about", "")),
                        _hours(doc.get("background"), where + ".background", LOW_DB, HIGH_DB),
                        float(jitter), tuple(events), offset)


@lru_cache(maxsize=4)
def _load(path: Path) -> dict:
    where = path.name
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NoiseProfileError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise NoiseProfileError(f"{where}: not JSON ({e})") from None
    _need(isinstance(doc, dict) and isinstance(doc.get("profiles"), dict), where,
          "needs a profiles object")
    offset = doc.get("utc_offset_h", 7)
    _need(_num(offset) and -12 <= offset <= 14, where + ": utc_offset_h", f"{offset!r}")
    profiles = {n: _profile(n, p, float(offset), f"{where}: profiles.{n}")
                for n, p in doc["profiles"].items()}
    stations = doc.get("stations", {})
    for sid, n in stations.items():
        _need(n in profiles, f"{where}: stations.{sid}", f"{n!r} is not a profile")
    _need(doc.get("default") in profiles, f"{where}: default",
          f"{doc.get('default')!r} is not a profile")
    return {"profiles": profiles, "stations": dict(stations), "default": doc["default"]}


def profiles(path: Path = PROFILES) -> dict[str, NoiseProfile]:
    """Every profile in the file, by name."""
    return dict(_load(Path(path))["profiles"])


def profile_for(station_id: str, path: Path = PROFILES) -> str:
    """The profile a station's sound simulator plays unless told otherwise."""
    data = _load(Path(path))
    return data["stations"].get(station_id, data["default"])


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # the normal approximation: Knuth's loop would underflow
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class StreetNoise:
    """The 1 s A-weighted level of one profile for one seed (see the module's note)."""

    def __init__(self, profile: str | NoiseProfile, seed: int = 0,
                 path: Path = PROFILES) -> None:
        if isinstance(profile, str):
            known = profiles(path)
            if profile not in known:
                raise NoiseProfileError(f"no noise profile {profile!r} "
                                        f"(known: {', '.join(sorted(known))})")
            profile = known[profile]
        self.profile = profile
        self.seed = seed
        self._slots = lru_cache(maxsize=4096)(self._slot_events)
        self._reach = [math.ceil(REACH * e.half_s[1] / SLOT_S) for e in profile.events]

    def __repr__(self) -> str:
        return f"StreetNoise({self.profile.name!r}, seed={self.seed})"

    def _hour(self, t: float) -> float:
        return ((t / 3600 + self.profile.utc_offset_h) % 24)

    def _interp(self, table: tuple[float, ...], t: float) -> float:
        h = self._hour(t)
        i = int(h)
        f = h - i
        return table[i] * (1 - f) + table[(i + 1) % 24] * f

    def _slot_events(self, kind: int, slot: int) -> tuple[tuple[float, float, float], ...]:
        """(centre, peak, half) of the events of one kind starting in one 60 s slot."""
        ev = self.profile.events[kind]
        rng = random.Random(zlib.crc32(f"{self.seed}:{ev.kind}:{slot}".encode()))
        lam = ev.per_hour[int(self._hour(slot * SLOT_S))] * SLOT_S / 3600
        return tuple((slot * SLOT_S + rng.random() * SLOT_S, rng.uniform(*ev.peak),
                      rng.uniform(*ev.half_s)) for _ in range(_poisson(rng, lam)))

    def level(self, t: float) -> float:
        """dB(A) at station epoch time t (the second it falls in)."""
        t = math.floor(t)
        p = self.profile
        energy = 10 ** (self._interp(p.background, t) / 10)
        here = t // SLOT_S
        for k, reach in enumerate(self._reach):
            for slot in range(here - reach, here + reach + 1):
                for centre, peak, half in self._slots(k, slot):
                    d = (t - centre) / half
                    if abs(d) < REACH:
                        energy += 10 ** ((peak - 10 * math.log10(1 + d * d)) / 10)
        level = 10 * math.log10(energy)
        if p.jitter_db:
            g = random.Random(zlib.crc32(f"{self.seed}:jitter:{t}".encode())).gauss(0, 1)
            level += p.jitter_db * max(-3.0, min(3.0, g))
        return round(min(HIGH_DB, max(LOW_DB, level)), 1)

    def levels(self, t0: float, t1: float, step_s: float = 1) -> list[float]:
        """The levels at t0, t0 + step_s, … before t1."""
        n = max(0, math.ceil((t1 - t0) / step_s))
        return [self.level(t0 + i * step_s) for i in range(n)]

    def laeq(self, t0: float, t1: float, step_s: float = 1) -> float:
        """The energy mean of the levels in [t0, t1): what an LAeq over that time should be."""
        lv = self.levels(t0, t1, step_s)
        if not lv:
            raise ValueError(f"no levels between {t0} and {t1}")
        top = max(lv)
        return top + 10 * math.log10(sum(10 ** ((x - top) / 10) for x in lv) / len(lv))

    def source(self, clock: Callable[[], float]) -> Callable[[str], float]:
        """callable(param) -> the level at clock(): a ModbusSlave's source. Every parameter
        of a sound model reads the one level (the transmitter has one register)."""

        def read(param: str) -> float:
            return self.level(clock())

        return read
