"""Accelerated station time on the CPython side of the bench.

The firmware's config key `"clock": {"speed": <float ≥ 1>, "t0": <epoch s or null>}` makes a
station's wall clock run as `t0 + real elapsed × speed` (cadence and scheduling scaled, bus I/O
timeouts real). `FastClock` is the same rule for the simulators and the scenario timeline, so a
signal's diurnal shape, a fault's window and the records the station stamps all follow one
station time, and a day of station life runs in minutes.

    clock = FastClock(speed=300, t0=1748815200)   # 2025-06-02 05:00 +07:00, 5 min per second
    clock.start()                                 # anchors t0 to now (monotonic)
    clock.now()                                   # station epoch seconds (float)
    clock.wait_until(t0 + 3600)                   # sleeps ~12 s of real time
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

MAX_SPEED = 100_000.0


class ClockError(ValueError):
    """A speed or start time the fast clock cannot run at (the message names it)."""


def check_speed(speed: object, where: str = "speed") -> float:
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ClockError(f"{where}: {speed!r} is not a number")
    if not 1 <= speed <= MAX_SPEED:
        raise ClockError(f"{where}: {speed!r} is not between 1 and {MAX_SPEED:g}")
    return float(speed)


@dataclass
class FastClock:
    """Station time = t0 + (monotonic now - anchor) × speed; t0 None means "now" at start()."""

    speed: float = 1.0
    t0: float | None = None
    _anchor: float = field(default=-1.0, init=False, repr=False)
    _base: float = field(default=0.0, init=False, repr=False)  # t0 once resolved
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.speed = check_speed(self.speed)
        if self.t0 is not None and (isinstance(self.t0, bool)
                                    or not isinstance(self.t0, int | float) or self.t0 < 0):
            raise ClockError(f"t0: {self.t0!r} is not epoch seconds")

    @property
    def start_time(self) -> float:
        """Station time at start() (t0, or the real time it was started at)."""
        return self.start()._base

    @property
    def started(self) -> bool:
        return self._anchor >= 0

    @property
    def accelerated(self) -> bool:
        """Whether the firmware needs a `clock` section at all (speed 1 from now: it does not)."""
        return self.speed != 1.0 or self.t0 is not None

    def start(self) -> FastClock:
        """Anchor the clock now; a second call is a no-op (every station shares one timeline)."""
        with self._lock:
            if self._anchor < 0:
                self._base = time.time() if self.t0 is None else float(self.t0)
                self._anchor = time.monotonic()
        return self

    def now(self) -> float:
        """Station epoch seconds; starts the clock on first use."""
        if self._anchor < 0:
            self.start()
        return self._base + (time.monotonic() - self._anchor) * self.speed

    def __call__(self) -> float:  # a clock is what signals.source() calls
        return self.now()

    def real_s(self, station_s: float) -> float:
        """Real seconds that station_s of station time take."""
        return station_s / self.speed

    def wait_until(self, station_t: float, stop: threading.Event | None = None,
                   step_s: float = 0.05) -> bool:
        """Sleep until the station clock reaches station_t; False when `stop` was set first."""
        while True:
            left = station_t - self.now()
            if left <= 0:
                return True
            pause = min(self.real_s(left), step_s)
            if stop is not None:
                if stop.wait(pause):
                    return False
            else:
                time.sleep(pause)

    def firmware_config(self) -> dict:
        """The firmware's `clock` section for a station launched now: its t0 is the station
        time at launch, so the firmware's clock and this one tell the same time."""
        speed = int(self.speed) if self.speed.is_integer() else self.speed
        return {"speed": speed, "t0": int(self.now())}
