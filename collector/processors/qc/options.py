"""[processors.qc] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class QcOptions:
    """[processors.qc]"""

    limits: str = _opt("", doc="QC limits JSON; empty: collector/processors/qc/limits.json")
    history_size: int = _opt(12, 2, 1000, "values remembered per series for spike/step tests")
