"""A small time-bounded cache with one computation per key at a time: a visitor spike asks
InfluxDB once per key and period, however many requests arrive together."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class Cache:
    def __init__(self, max_entries: int = 512, clock: Callable[[], float] = time.monotonic):
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._locks: dict[Any, threading.Lock] = {}
        self._guard = threading.Lock()
        self._max = max_entries
        self._clock = clock
        self.misses = 0

    def get(self, key: Any, ttl_s: float, compute: Callable[[], Any]) -> Any:
        hit = self._fresh(key)
        if hit is not None:
            return hit[1]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # the others wait for the one computing it, then take its answer
            hit = self._fresh(key)
            if hit is not None:
                return hit[1]
            value = compute()
            self.misses += 1
            with self._guard:
                self._items[key] = (self._clock() + ttl_s, value)
                self._items.move_to_end(key)
                while len(self._items) > self._max:
                    old, _ = self._items.popitem(last=False)
                    self._locks.pop(old, None)
            return value

    def peek(self, key: Any) -> Any:
        """The fresh value, or None: never computes, never waits (the event loop asks this
        before handing a request to a thread)."""
        hit = self._fresh(key)
        return None if hit is None else hit[1]

    def _fresh(self, key: Any) -> tuple[float, Any] | None:
        with self._guard:
            hit = self._items.get(key)
            if hit is not None and hit[0] > self._clock():
                return hit
        return None
