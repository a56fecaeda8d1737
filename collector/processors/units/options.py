"""[processors.units] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class UnitsOptions:
    """[processors.units]"""

    keep_raw: bool = _opt(True, doc="keep the value as sent in field `raw` when converting")
