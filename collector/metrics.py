"""The collector's own counters: what it received, stored and refused, per station and in total.

Written from the source and worker threads, read by anyone through `snapshot()`, which returns
plain dicts that no later update can change.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable

from collector.contracts import Reading


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stations: dict[str, dict] = {}
        self._messages: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._readings_stored = 0
        self._duplicates = 0
        self._points_stored = 0
        self._acked = 0
        self._flags: Counter[int] = Counter()
        self._spool_full = False
        self._writes = Counter()
        self._source: dict = {"connected": False, "connects": 0, "last_error": ""}
        self._sink: dict = {"state": "ok", "last_error": "", "retrying_since": None}
        self._started = time.time()

    def _station(self, station: str) -> dict:
        st = self._stations.get(station)
        if st is None:
            st = self._stations[station] = {
                "last_seen": None, "last_record_time": None, "readings_stored": 0,
                "messages": 0, "duplicates": 0, "status": 0, "event": 0, "online": None}
        return st

    def received(self, station: str | None, kind: str) -> None:
        """One message from the broker on a `data`, `status` or `event` topic (or `other`)."""
        now = time.time()
        with self._lock:
            self._messages[kind] += 1
            if station is not None:
                st = self._station(station)
                st["last_seen"] = now
                if kind == "data":
                    st["messages"] += 1
                elif kind in ("status", "event"):
                    st[kind] += 1

    def online(self, station: str, online: bool) -> None:
        with self._lock:
            self._station(station)["online"] = online

    def rejected(self, cls: str, n: int = 1) -> None:
        with self._lock:
            self._rejected[cls] += n

    def duplicates(self, keys: Iterable[tuple[str, str, int]]) -> None:
        """Messages recognised as already stored: (station, boot, seq) each."""
        with self._lock:
            for station, _boot, _seq in keys:
                self._station(station)["duplicates"] += 1
                self._duplicates += 1

    def flagged(self, readings: Iterable[Reading]) -> None:
        """QC flags of readings on their way to storage."""
        with self._lock:
            self._flags.update(r.qc for r in readings)

    def acked(self, n: int) -> None:
        with self._lock:
            self._acked += n

    def spool_full(self, full: bool) -> None:
        with self._lock:
            self._spool_full = full

    def stored(self, readings: Iterable[Reading]) -> None:
        """Items the database took: readings are counted per station, derived points apart."""
        with self._lock:
            for r in readings:
                if not isinstance(r, Reading):
                    self._points_stored += 1
                    continue
                st = self._station(r.station)
                st["readings_stored"] += 1
                last = st["last_record_time"]
                if last is None or r.time > last:
                    st["last_record_time"] = r.time
                self._readings_stored += 1

    def write(self, outcome: str, error: str = "") -> None:
        """One sink write attempt: `ok`, `retry`, `operator` (needs a person) or `rejected`."""
        with self._lock:
            self._writes[outcome] += 1
            if outcome == "ok":
                self._sink.update(state="ok", retrying_since=None)
            elif outcome in ("retry", "operator"):
                self._sink["state"] = outcome
                self._sink["last_error"] = error
                if self._sink["retrying_since"] is None:
                    self._sink["retrying_since"] = time.time()

    def connected(self) -> None:
        with self._lock:
            self._source["connected"] = True
            self._source["connects"] += 1

    def disconnected(self, error: str = "") -> None:
        with self._lock:
            self._source["connected"] = False
            if error:
                self._source["last_error"] = error

    def source_error(self, error: str) -> None:
        with self._lock:
            self._source["last_error"] = error

    def snapshot(self) -> dict:
        """{"stations": {id: {...}}, "totals": {...}, "source": {...}, "sink": {...}}."""
        with self._lock:
            return {
                "stations": {k: dict(v) for k, v in sorted(self._stations.items())},
                "totals": {
                    "messages": sum(self._messages.values()),
                    "messages_by_kind": dict(self._messages),
                    "readings_stored": self._readings_stored,
                    "points_stored": self._points_stored,
                    "acked": self._acked,
                    "duplicates": self._duplicates,
                    "qc": {str(k): v for k, v in sorted(self._flags.items())},
                    "spool_full": self._spool_full,
                    "rejected": sum(self._rejected.values()),
                    "rejected_by_reason": dict(self._rejected),
                    "writes": dict(self._writes),
                },
                "source": dict(self._source),
                "sink": dict(self._sink),
                "uptime_s": time.time() - self._started,
            }


def summary(snap: dict) -> str:
    """One log line out of a snapshot."""
    t = snap["totals"]
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(t["rejected_by_reason"].items()))
    sink = snap["sink"]["state"]
    if sink != "ok":
        sink += f" ({snap['sink']['last_error']})"
    spool = snap.get("spool")
    spooled = (f", spool {spool['bytes']} bytes{' HIGH' if spool['high_water'] else ''}"
               f"{' FULL' if t.get('spool_full') else ''}") if spool else ""
    if (snap.get("dead_letters") or {}).get("full"):
        spooled += ", dead letters FULL (not acknowledging)"
    return (f"{t['messages']} messages, {t['readings_stored']} readings stored, "
            f"{t['duplicates']} duplicates, "
            f"{t['rejected']} rejected{' (' + reasons + ')' if reasons else ''}{spooled}, "
            f"{len(snap['stations'])} stations seen, broker "
            f"{'connected' if snap['source']['connected'] else 'DISCONNECTED'}, sink {sink}")
