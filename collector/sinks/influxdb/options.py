"""[sinks.influxdb] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class InfluxOptions:
    """[sinks.influxdb]"""

    batch_size: int = _opt(5000, 1, 1_000_000, "readings per write")
    flush_interval_s: float = _opt(0.5, 0.01, 3600, "longest a reading waits for its batch")
    timeout_s: float = _opt(10.0, 0.1, 600, "HTTP timeout of one write")
    retry_initial_s: float = _opt(0.5, 0.01, 3600, "first back-off after a failed write")
    retry_max_s: float = _opt(60.0, 0.01, 86400, "longest back-off")
