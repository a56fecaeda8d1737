"""[processors.indices] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class IndicesOptions:
    """[processors.indices]"""

    keep_hours: int = field(default=48, metadata={
        "lo": 32, "hi": 24 * 14, "doc": "hours of hourly means kept to recompute late data"})
