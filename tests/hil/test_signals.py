"""The simulated island day: reproducible from its seed, physically plausible, in catalog units."""

from __future__ import annotations

import statistics

import pytest

import boards
from hil import signals

T0 = 1767200400  # 2026-01-01 00:00 at Phú Quốc (UTC+7)
HOUR = 3600
DAY = [T0 + m * 60 for m in range(0, 24 * 60, 5)]  # a simulated day, every 5 minutes

# The envelopes the brief and the field set, written out here rather than read from the module.
AIR_RANGES = {"temp": (24, 33), "rh": (65, 95), "pressure": (1003, 1013), "so2": (0, 15),
              "no2": (0, 80), "co": (0, 4), "o3": (0, 100), "pm10": (0, 200), "tsp": (0, 300)}
WATER_RANGES = {"temp": (26, 32), "ph": (7.0, 8.2), "do": (5, 8), "tss": (5, 60),
                "nh4": (0.05, 0.5)}


def test_a_seed_pins_the_values():
    at_2pm = T0 + 14 * HOUR
    air = {p: signals.value(p, at_2pm, seed=42) for p in ("temp", "rh", "pressure", "no2", "o3")}
    water = {p: signals.value(p, at_2pm, seed=42, medium="water")
             for p in ("ph", "do", "tss", "nh4")}
    assert air == pytest.approx({"temp": 31.2748, "rh": 67.1991, "pressure": 1006.3081,
                                 "no2": 18.1324, "o3": 48.7346}, abs=1e-3)
    assert water == pytest.approx({"ph": 7.8933, "do": 7.2706, "tss": 20.6847, "nh4": 0.1248},
                                  abs=1e-3)


def test_other_seeds_give_other_noise_and_a_source_reads_the_clock():
    a = [signals.value("pm10", t, seed=1) for t in DAY]
    b = [signals.value("pm10", t, seed=2) for t in DAY]
    assert a != b
    read = signals.source(seed=1, clock=lambda: DAY[100])
    assert read("pm10") == a[100]


@pytest.mark.parametrize("medium, ranges", [("air", AIR_RANGES), ("water", WATER_RANGES)])
def test_every_signal_stays_in_its_physical_range_over_days(medium, ranges):
    for seed in range(3):
        for day in range(3):
            for param, (lo, hi) in ranges.items():
                vals = [signals.value(param, t + day * 24 * HOUR, seed, medium) for t in DAY]
                assert lo <= min(vals) and max(vals) <= hi, (param, seed, day)
                # value() clamps to its envelope as a last resort; a shape that leans on the
                # clamp shows flat tops instead of a day.
                _, elo, ehi = signals.MEDIA[medium][param]
                clipped = sum(v <= elo or v >= ehi for v in vals)
                assert clipped < 0.02 * len(vals), (param, seed, day, clipped)


def hourly_means(param: str, medium: str = "air", days: int = 7) -> list[float]:
    return [statistics.mean(signals.value(param, T0 + d * 24 * HOUR + h * HOUR + m * 600, 5,
                                          medium)
                            for d in range(days) for m in range(6)) for h in range(24)]


def test_the_day_has_an_island_shape():
    temp, rh = hourly_means("temp"), hourly_means("rh")
    assert 3 <= temp.index(min(temp)) <= 7 and 12 <= temp.index(max(temp)) <= 16
    assert max(temp) - min(temp) > 5
    assert statistics.correlation(temp, rh) < -0.8
    no2, co, o3 = hourly_means("no2"), hourly_means("co"), hourly_means("o3")
    for rush in (8, 18):
        assert no2[rush] > 2 * no2[3] and co[rush] > 2 * co[3]
    assert 12 <= o3.index(max(o3)) <= 17
    pressure = hourly_means("pressure")
    assert pressure[10] > pressure[16] + 1.5 and pressure[22] > pressure[4] + 1.5
    do_, wtemp = hourly_means("do", "water"), hourly_means("temp", "water")
    assert statistics.correlation(do_, wtemp) > 0.8


def test_tss_rises_with_rain():
    wet = [t for t in (T0 + m * 600 for m in range(30 * 144)) if signals.rain(t, 0) > 0.5]
    dry = [t for t in (T0 + m * 600 for m in range(30 * 144)) if signals.rain(t, 0) == 0]
    assert wet and dry
    tss = statistics.mean(signals.value("tss", t, 0, "water") for t in wet)
    assert tss > statistics.mean(signals.value("tss", t, 0, "water") for t in dry) + 10


def test_units_are_the_catalog_units_for_every_station_kind():
    for station in boards.registry().stations:
        medium = signals.medium_of(station.kind)
        for param, unit in station.params().items():
            if param in boards.SOUND_PARAMS:  # a sound meter plays hil/noise.py's street levels
                continue
            assert signals.unit(param, medium) == unit, (station.id, param)
