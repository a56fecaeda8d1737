"""What of the database is public. InfluxDB 1.x grants READ per database, so the read-only
account also reads the collector's self-metrics and the stations' health; every query the
public side runs goes through `check`, and every row it returns through `keep`, so an internal
field never reaches a visitor even if a query asked for it."""

from __future__ import annotations

import fnmatch

# measurement (as the public side names it) -> the fields a visitor may see; a trailing `*`
# is a prefix (`sub_*`: each VN_AQI sub-index). `reading`'s `qc` and `status` are read only to
# leave invalid values out, never shown.
PUBLIC: dict[str, tuple[str, ...]] = {
    "reading": ("value", "qc", "status"),
    "mean": ("value", "complete", "provisional"),
    "aqi": ("aqi", "band", "dominant", "complete", "sub_*"),
    "wqi": ("status", "wqi", "class", "indicative_wqi", "indicative_class"),
    "device": ("online",),  # a station's online state; never heap, RSSI, errors or resets
    # issue 20's forecast: the central value, its 10th-90th percentile band, when issued
    "forecast": ("value", "lo", "hi", "issued"),
}
SHOWN_NEVER = ("qc", "status")  # read to filter, never put into an answer about readings
TAGS = ("station", "param", "period", "unit", "kind", "message", "model")


class NotPublic(ValueError):
    """A query for something the allowlist does not publish."""


def allowed(measurement: str, field: str) -> bool:
    return any(fnmatch.fnmatchcase(field, pat) for pat in PUBLIC.get(measurement, ()))


def check(measurement: str, fields: tuple[str, ...]) -> None:
    if measurement not in PUBLIC:
        raise NotPublic(f"measurement {measurement!r} is not public")
    bad = [f for f in fields if f != "*" and not allowed(measurement, f)]
    if bad:
        raise NotPublic(f"{measurement}: fields {bad} are not public")


def keep(measurement: str, row: dict) -> dict:
    """The row with only the public fields, tags and time."""
    return {k: v for k, v in row.items()
            if k == "time" or k in TAGS or allowed(measurement, k)}
