"""The noise dashboard's data: a night-market station's five-minute sound levels over the same
span as network_day, run through the collector's own aggregate and alerts stages (energy
means, noise alerts by period, periods judged whole) and stored by its InfluxDB sink.

Stored directly rather than over the broker because the station's sound channels come with
the firmware side's catalog model; the points are the stages' own output either way."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import boards
from collector.contracts import QC_GOOD, Batch, Reading
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.processors.alerts.plugin import AlertsProcessor
from collector.sinks.influxdb.plugin import InfluxSink

STATION = "pq-air-02"  # Dương Đông night market (network_day.AIR: its air data too)
STEP = 300
UNIT = "dBA"


def levels(t: int, tz: ZoneInfo) -> dict[str, float]:
    """A street by the market: traffic by day, the market loud from 18:00 to midnight,
    quiet after; small fast waves so no value repeats (QC's flat line)."""
    hour = datetime.fromtimestamp(t - 1, tz).hour
    base = 67.0 if hour >= 18 else (60.0 if hour >= 6 else 47.0)
    wob = 1.5 * math.sin(t / 700) + 0.4 * math.sin(t / 130)
    laeq = base + wob
    return {"laeq": laeq, "lamax": laeq + 14 + 3 * math.sin(t / 900),
            "lamin": laeq - 12 + math.sin(t / 500), "l10": laeq + 3,
            "l50": laeq - 2, "l90": laeq - 8}


def items(start: int, end: int) -> list:
    """Readings and the points the stages make of them, an hour a batch."""
    tz = ZoneInfo(boards.registry().timezone)
    agg, alerts = AggregateProcessor("phu-quoc"), AlertsProcessor("phu-quoc")
    out: list = []
    t = start + STEP
    while t <= end:
        batch_readings = []
        for _ in range(12):
            if t > end:
                break
            batch_readings += [Reading(STATION, "air", p, UNIT, t, round(v, 1), 0, qc=QC_GOOD,
                                       n=STEP) for p, v in levels(t, tz).items()]
            t += STEP
        batch = alerts.process(agg.process(Batch([], readings=batch_readings)))
        out += batch_readings + batch.points
    return out


def store(env: dict[str, str], start: int, end: int) -> int:
    data = items(start, end)
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        result = sink.write(data)
    finally:
        sink.close()
    if len(result.accepted) != len(data):
        raise RuntimeError(f"noise data not stored: {result.error}")
    return len(data)
