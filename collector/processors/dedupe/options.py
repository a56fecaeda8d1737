"""[processors.dedupe] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class DedupeOptions:
    """[processors.dedupe]"""

    boots_per_station: int = _opt(8, 1, 1000, "boots remembered per station")
    ranges_per_boot: int = _opt(256, 1, 100_000, "sequence ranges remembered per boot")
    forget_after_s: float = _opt(2_592_000.0, 60, 3.2e8, "forget a boot not seen this long")
