"""Seeded, reproducible sensor signals for a tropical island (Phú Quốc, UTC+7).

Every value is a plain function of (param, epoch seconds, seed, medium): no state, no clock, so
a test can pin exact numbers and two runs with one seed see the same day. Shapes:

- air temperature 24–33 °C, coolest near 05:00 and warmest near 14:00 local; humidity 65–95 %
  moving against it; afternoon showers (seeded per day) cool the air and wet it.
- pressure near 1008 hPa with the semidiurnal atmospheric tide (highs near 10:00 and 22:00).
- traffic peaks 07–09 and 17–19 in NO2, CO, PM10 and TSP (PM2.5 0.6 and PM1 0.4 of PM10);
  O3 peaks in the afternoon; SO2 stays a low background.
- water: temperature 27–31 °C, pH 7.0–8.2 and DO 5–8 mg/L rising with daylight, TSS 5–60 mg/L
  with the 12.42 h tide and rain pulses, NH4-N 0.05–0.5 mg/L with a morning discharge.
- per registry kind (`medium_of`): tap water clear and steady (pH 7.0–7.4, TSS < 5 mg/L,
  NH4 < 0.1, turbidity 0.2–1.2 NTU, free chlorine 0.4–0.65 mg/L), coastal sea water alkaline
  and tidal (pH 8.0–8.3, DO 5.6–7.6, NH4 < 0.08, salinity 30–33.3 PSU freshened by rain,
  conductivity 1.53 mS/cm per PSU), treatment-plant effluent with the town's morning and
  evening load (TSS 16–44, NH4 1–3.5, COD 26–60 mg/L, flow 26–125 m3/h).

Units are those of the boards/ catalog channels.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable

UTC_OFFSET_S = 7 * 3600
# Fine fractions of traffic and sea-salt air on the coast: PM2.5 of PM10 and PM1 of PM2.5.
PM25_OF_PM10 = 0.6
PM1_OF_PM25 = 0.68
DAY_S = 86400.0
M2_TIDE_S = 12.42 * 3600

# param -> (unit, low, high): the physical envelope each signal stays inside, noise included.
AIR: dict[str, tuple[str, float, float]] = {
    "temp": ("degC", 24.0, 33.0),
    "rh": ("%", 65.0, 95.0),
    "pressure": ("hPa", 1003.0, 1013.0),
    "so2": ("ppb", 0.5, 12.0),
    "no2": ("ppb", 3.0, 60.0),
    "co": ("ppm", 0.1, 3.0),
    "o3": ("ppb", 5.0, 80.0),
    "pm10": ("ug/m3", 8.0, 150.0),
    "pm2_5": ("ug/m3", 8.0 * 0.6, 150.0 * 0.6),
    "pm1": ("ug/m3", 8.0 * 0.6 * 0.68, 150.0 * 0.6 * 0.68),
    "tsp": ("ug/m3", 15.0, 260.0),
}
WATER: dict[str, tuple[str, float, float]] = {
    "temp": ("degC", 27.0, 31.5),
    "ph": ("pH", 7.0, 8.2),
    "do": ("mg/L", 5.0, 8.0),
    "tss": ("mg/L", 5.0, 60.0),
    "nh4": ("mg/L", 0.05, 0.5),
}
# The registry's water kinds are not the same water: treated supply water is clear and steady,
# coastal sea water is alkaline and tidal, a treatment plant's effluent carries the town's
# daily load. Envelopes chosen inside the QC climatology and the regulations' limits, so a
# fault-free day raises no flag and no alert.
TAP: dict[str, tuple[str, float, float]] = {
    "temp": ("degC", 26.0, 31.0), "ph": ("pH", 6.8, 7.8), "do": ("mg/L", 6.0, 8.0),
    "tss": ("mg/L", 0.3, 5.0), "nh4": ("mg/L", 0.01, 0.15),
    "turbidity": ("NTU", 0.05, 1.8), "chlorine": ("mg/L", 0.25, 0.95)}
SEA: dict[str, tuple[str, float, float]] = {
    "temp": ("degC", 27.0, 31.5), "ph": ("pH", 7.8, 8.35), "do": ("mg/L", 5.3, 8.0),
    "tss": ("mg/L", 3.0, 45.0), "nh4": ("mg/L", 0.01, 0.09),
    "conductivity": ("mS/cm", 40.0, 56.0), "salinity": ("PSU", 26.0, 36.0)}
WASTEWATER: dict[str, tuple[str, float, float]] = {
    "temp": ("degC", 27.5, 33.0), "ph": ("pH", 6.5, 7.8), "do": ("mg/L", 1.5, 5.0),
    "tss": ("mg/L", 10.0, 48.0), "nh4": ("mg/L", 0.5, 4.5),
    "cod": ("mg/L", 15.0, 70.0), "flow": ("m3/h", 15.0, 130.0)}
# a supply reservoir's raw water (pq-tap-02): inside QCVN 08:2023 level A
RAW: dict[str, tuple[str, float, float]] = {
    "temp": ("degC", 26.0, 31.0), "ph": ("pH", 6.8, 7.8), "do": ("mg/L", 6.5, 8.0),
    "tss": ("mg/L", 3.0, 20.0), "nh4": ("mg/L", 0.02, 0.25),
    # rp-water-01 (water-real) reads turbidity where the others read TSS: a reservoir clouds
    # after rain
    "turbidity": ("NTU", 1.5, 25.0)}
MEDIA = {"air": AIR, "water": WATER, "tap": TAP, "sea": SEA, "wastewater": WASTEWATER,
         "raw": RAW}
KIND_MEDIUM = {"air": "air", "tap_water": "tap", "sea_water": "sea", "wastewater": "wastewater",
               "surface_water": "raw"}


class UnknownSignal(KeyError):
    """No signal model for this parameter in this medium."""


def local_hour(t_epoch: float) -> float:
    """Hour of the local (UTC+7) day, 0 ≤ h < 24."""
    return ((t_epoch + UTC_OFFSET_S) % DAY_S) / 3600.0


def _local_day(t_epoch: float) -> int:
    return int((t_epoch + UTC_OFFSET_S) // DAY_S)


def _unit_noise(seed: int, key: str, knot: int) -> float:
    """A reproducible number in [-1, 1] for one knot of one stream."""
    return random.Random(f"{seed}:{key}:{knot}").uniform(-1.0, 1.0)


def noise(seed: int, key: str, t_epoch: float, period_s: float = 600.0) -> float:
    """Smooth seeded noise in [-1, 1]: knots every period_s, cosine-interpolated between them."""
    x = t_epoch / period_s
    k = math.floor(x)
    w = (1 - math.cos(math.pi * (x - k))) / 2
    return (1 - w) * _unit_noise(seed, key, k) + w * _unit_noise(seed, key, k + 1)


def _bump(hour: float, centre: float, width: float) -> float:
    """Gaussian bump over the hour of day, wrapping at midnight; 1 at the centre."""
    d = (hour - centre + 12) % 24 - 12
    return math.exp(-0.5 * (d / width) ** 2)


def diurnal(hour: float, low_at: float = 5.0, high_at: float = 14.0) -> float:
    """0 at low_at, 1 at high_at, cosine halves in between: a slow rise and a longer fall."""
    rise = (high_at - low_at) % 24
    since_low = (hour - low_at) % 24
    if since_low <= rise:
        return (1 - math.cos(math.pi * since_low / rise)) / 2
    fall = 24 - rise
    return (1 + math.cos(math.pi * (since_low - rise) / fall)) / 2


def rain(t_epoch: float, seed: int) -> float:
    """Rain intensity 0..1: at most one afternoon shower a day, seeded per local day.

    The tail (decaying over ~2 h after the shower) is what runoff-driven signals follow.
    """
    out = 0.0
    day = _local_day(t_epoch)
    for d in (day - 1, day):
        rng = random.Random(f"{seed}:rain:{d}")
        if rng.random() > 0.45:
            continue
        start = d * DAY_S - UTC_OFFSET_S + rng.uniform(13.0, 18.0) * 3600
        length = rng.uniform(0.5, 2.0) * 3600
        strength = rng.uniform(0.4, 1.0)
        dt = t_epoch - start
        if 0 <= dt <= length:
            out = max(out, strength)
        elif dt > length:
            out = max(out, strength * math.exp(-(dt - length) / 7200))
    return out


def traffic(hour: float) -> float:
    """0..1 road traffic: morning and evening rush, a midday plateau, quiet nights."""
    return min(1.0, _bump(hour, 8.0, 0.9) + _bump(hour, 18.0, 1.0) + 0.35 * _bump(hour, 12.5, 3.0))


def _air(param: str, t: float, seed: int) -> float:
    h = local_hour(t)
    warm = diurnal(h)
    wet = rain(t, seed)
    day = _local_day(t)
    if param == "temp":
        swing = 7.0 + random.Random(f"{seed}:swing:{day}").uniform(-0.8, 0.8)
        return 24.8 + swing * warm - 2.5 * wet + 0.3 * noise(seed, "temp", t)
    if param == "rh":
        return 92.0 - 24.0 * warm + 10.0 * wet + 1.5 * noise(seed, "rh", t)
    if param == "pressure":
        tide = 1.5 * math.cos(2 * math.pi * (h - 10.0) / 12.0)
        return 1008.0 + tide + 1.2 * noise(seed, "pressure-synoptic", t, 6 * 3600) \
            + 0.1 * noise(seed, "pressure", t, 300)
    road = traffic(h)
    washout = 1.0 - 0.5 * wet
    if param == "no2":
        return (8.0 + 30.0 * road) * (1 + 0.12 * noise(seed, "no2", t))
    if param == "co":
        return (0.35 + 1.3 * road) * (1 + 0.12 * noise(seed, "co", t))
    if param == "so2":
        return 3.0 + 0.8 * road + 1.0 * noise(seed, "so2", t, 1800)
    if param == "o3":
        sun = _bump(h, 14.5, 2.5)
        titration = 1 - 0.25 * road * (1 - sun)  # fresh NO eats O3 at rush hours
        return (12.0 + 38.0 * sun) * titration * (1 + 0.1 * noise(seed, "o3", t))
    if param in ("pm10", "pm2_5", "pm1"):
        pm10 = (24.0 + 40.0 * road) * washout * (1 + 0.15 * noise(seed, "pm10", t))
        fine = {"pm10": 1.0, "pm2_5": PM25_OF_PM10, "pm1": PM25_OF_PM10 * PM1_OF_PM25}
        return pm10 * fine[param]
    if param == "tsp":
        return (42.0 + 75.0 * road) * washout * (1 + 0.15 * noise(seed, "tsp", t))
    raise UnknownSignal(f"no air signal for {param!r}; known: {', '.join(AIR)}")


def _water(param: str, t: float, seed: int) -> float:
    h = local_hour(t)
    # Water lags the air by ~2 h and swings less; photosynthesis follows the same warmth.
    warm = diurnal(h, low_at=7.0, high_at=16.0)
    wet = rain(t, seed)
    tide = (1 + math.cos(2 * math.pi * t / M2_TIDE_S)) / 2
    if param == "temp":
        return 27.8 + 2.6 * warm - 0.6 * wet + 0.15 * noise(seed, "wtemp", t)
    if param == "ph":
        return 7.35 + 0.55 * warm + 0.1 * tide + 0.04 * noise(seed, "ph", t)
    if param == "do":
        return 5.4 + 2.2 * warm - 0.3 * wet + 0.12 * noise(seed, "do", t)
    if param == "tss":
        return 12.0 + 14.0 * tide + 28.0 * wet + 2.0 * noise(seed, "tss", t)
    if param == "nh4":
        return 0.12 + 0.12 * _bump(h, 7.5, 1.5) + 0.2 * wet + 0.02 * noise(seed, "nh4", t)
    raise UnknownSignal(f"no water signal for {param!r}; known: {', '.join(WATER)}")


def _kind_water(param: str, t: float, seed: int, medium: str) -> float:
    """tap, sea and wastewater: the same day and tide, each with its own chemistry."""
    h = local_hour(t)
    warm = diurnal(h, low_at=7.0, high_at=16.0)
    wet = rain(t, seed)
    tide = (1 + math.cos(2 * math.pi * t / M2_TIDE_S)) / 2
    morning = _bump(h, 7.5, 1.5)
    n = noise(seed, f"{medium}-{param}", t)
    if medium == "tap":
        shape = {"temp": 27.5 + 2.0 * warm + 0.1 * n,
                 "ph": 7.15 + 0.15 * warm + 0.05 * n,
                 "do": 7.0 + 0.4 * warm - 0.1 * wet + 0.1 * n,
                 "tss": 1.2 + 1.5 * wet + 0.3 * n,
                 "nh4": 0.04 + 0.02 * morning + 0.005 * n,
                 "turbidity": 0.3 + 0.8 * wet + 0.08 * n,
                 # chlorine decays as the morning demand draws older water through the mains
                 "chlorine": 0.6 - 0.15 * morning + 0.05 * n}
    elif medium == "sea":
        salinity = 32.8 + 0.4 * tide - 3.0 * wet + 0.1 * n  # rain runoff freshens the coast
        shape = {"temp": 28.3 + 1.8 * warm - 0.4 * wet + 0.1 * n,
                 "ph": 8.05 + 0.12 * warm + 0.03 * tide + 0.02 * n,
                 "do": 5.9 + 1.6 * warm - 0.2 * wet + 0.1 * n,
                 "tss": 7.0 + 10.0 * tide + 14.0 * wet + 1.5 * n,
                 "nh4": 0.03 + 0.02 * morning + 0.02 * wet + 0.005 * n,
                 "salinity": salinity,
                 # at 25 degC, near S = 33: C25 ~ 1.53 mS/cm per PSU (UNESCO PSS-78, linearised)
                 "conductivity": 1.53 * salinity}
    else:  # a treatment plant's effluent follows the town: morning and evening load
        load = min(1.0, _bump(h, 8.0, 1.5) + _bump(h, 19.0, 1.5))
        shape = {"temp": 29.0 + 2.0 * warm + 0.15 * n,
                 "ph": 7.0 + 0.3 * warm + 0.08 * n,
                 "do": 2.5 + 1.5 * warm + 0.2 * n,
                 "tss": 18.0 + 14.0 * load + 10.0 * wet + 2.0 * n,
                 "nh4": 1.2 + 2.0 * load + 0.2 * n,
                 "cod": 28.0 + 25.0 * load + 5.0 * wet + 2.0 * n,
                 "flow": 30.0 + 70.0 * load + 20.0 * wet + 4.0 * n,
                 "turbidity": 3.0 + 15.0 * wet + 0.5 * n}
    if param not in shape or param not in MEDIA[medium]:
        raise UnknownSignal(f"no {medium} signal for {param!r}; known: {', '.join(shape)}")
    return shape[param]


def value(param: str, t_epoch: float, seed: int = 0, medium: str = "air") -> float:
    """The signal for one parameter at one instant, kept inside its physical envelope."""
    try:
        table = MEDIA[medium]
    except KeyError:
        raise ValueError(f"medium {medium!r} is not one of {', '.join(MEDIA)}") from None
    if medium == "air":
        raw = _air(param, t_epoch, seed)
    elif medium == "water":
        raw = _water(param, t_epoch, seed)
    else:
        raw = _kind_water(param, t_epoch, seed, medium)
    _, lo, hi = table[param]
    return min(hi, max(lo, raw))


def unit(param: str, medium: str = "air") -> str:
    try:
        return MEDIA[medium][param][0]
    except KeyError:
        raise UnknownSignal(f"no {medium} signal for {param!r}") from None


def medium_of(kind: str) -> str:
    """Registry station kind -> signal medium (air, tap, sea, wastewater; else water)."""
    return KIND_MEDIUM.get(kind, "water")


def medium_for(params: Iterable[str]) -> str:
    """The medium whose signals cover most of params (air on a tie).

    A parameter without a signal is not an error here: a simulator answers it only when pinned.
    """
    params = list(params)
    return max(MEDIA, key=lambda m: (sum(p in MEDIA[m] for p in params), m == "air"))


def source(seed: int = 0, medium: str = "air",
           clock: Callable[[], float] = time.time) -> Callable[[str], float]:
    """A callable(param) -> value at the clock's current time: what simulators read from."""

    def read(param: str) -> float:
        return value(param, clock(), seed, medium)

    return read
