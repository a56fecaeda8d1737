"""Retry timing for every output (the InfluxDB sink's RunningSink, the outbox workers, the alert
outputs): a back-off doubling from `initial_s` to `max_s`, never shorter than what the
receiver asked for in Retry-After."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    initial_s: float
    max_s: float

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry)."""
        doubled = self.initial_s * 2 ** min(max(attempt - 1, 0), 64)
        return max(retry_after or 0.0, min(self.max_s, doubled))


def retry_after_s(headers: object) -> float:
    """Seconds from a Retry-After header (delta or HTTP date); 0 when absent or unreadable."""
    value = None
    if headers is not None and hasattr(headers, "get"):
        value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0
