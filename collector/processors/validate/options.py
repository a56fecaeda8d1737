"""[processors.validate] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class ValidateOptions:
    """[processors.validate]"""

    max_future_s: int = _opt(600, 0, 86400, "records further ahead of the receive time are refused")
