"""The daily discharge volume of an outfall from its flow series, as pure functions.

A wastewater permit, the design-flow tiers of QCVN 14:2025 / 40:2025 and Decree 08/2022's flow
classes speak of m³ per day; the flowmeter gives m³/h. Per local day (the registry's time zone,
hours ending 01:00 … 00:00, as the daily mean) the volume is the sum of the complete hourly
mean flows × 1 h (`measured`); hours without a complete mean are filled at the day's mean flow,
so `value` = mean of the complete hourly flows × 24 h, and `complete` follows the daily-mean
rule (`day_hours` of 24). With all 24 hours complete the two are equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from collector.processors.aggregate.means import DAY_HOURS, Completeness, Mean, day_hours

FLOW_PARAM = "flow"
VOLUME_PARAM = "volume"
VOLUME_UNIT = "m3"
# m³/h per unit a flowmeter may report in; the stage refuses to start on another one
M3H_PER = {"m3/h": 1.0, "L/s": 3.6, "m3/s": 3600.0}


@dataclass(frozen=True)
class Volume:
    """One local day's volume in m³: `value` None when no hour was complete."""

    value: float | None
    measured: float
    n: int
    expected: int
    complete: bool


def hourly_volume(m: Mean | None, unit: str) -> float | None:
    """m³ that flowed in one hour, from its mean flow; None when the hour is not complete."""
    if m is None or not m.complete or m.value is None:
        return None
    return m.value * M3H_PER[unit]


def daily_volume(hours: Mapping[int, Mean], start: int, unit: str,
                 rule: Completeness) -> Volume:
    """The volume of the local day beginning at `start` from its hourly mean flows in `unit`."""
    if unit not in M3H_PER:
        raise ValueError(f"flow unit {unit!r} is not one of {', '.join(M3H_PER)}")
    got = [v for v in (hourly_volume(hours.get(h), unit) for h in day_hours(start))
           if v is not None]
    measured = math.fsum(got)
    value = measured * DAY_HOURS / len(got) if got else None
    return Volume(value, measured, len(got), DAY_HOURS, len(got) >= rule.day_hours)
