"""[processors.aggregate] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _opt(default, lo=None, hi=None, doc=""):
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class AggregateOptions:
    """[processors.aggregate]"""

    hour_fraction: float = _opt(0.75, 0.01, 1.0, "share of an hour's records for a complete mean")
    rolling_8h_hours: int = _opt(6, 1, 8, "complete hours of 8 for a complete 8-h mean")
    day_hours: int = _opt(18, 1, 24, "complete hours of 24 for a complete daily mean")
    keep_hours: int = _opt(48, 32, 24 * 14, "hours of records kept to recompute late data")
