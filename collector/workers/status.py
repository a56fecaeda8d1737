"""The workers' status documents (each `<data_dir>/worker-<i>/status.json`) as one: what
`quantrac collector status` and the metrics endpoint show for a collector of several workers.

Counters and sizes add up; stations, completeness and open alerts are each worker's own (a
station belongs to one worker); a worker that is down or failing makes the whole say so
(`running`, `connected` all, the database state the worst); `workers` lists each one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

ALL = ("running", "connected")  # true only when every worker's is
STATES = ("operator", "retry", "failing", "unreachable", "retrying", "ok")  # worst first


def _merge(a: Any, b: Any, key: str = "") -> Any:
    if isinstance(a, bool) and isinstance(b, bool):
        return (a and b) if key in ALL else (a or b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return max(a, b) if key in ("uptime_s", "last_seen", "last_record_time") else a + b
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(out[k], v, k) if k in out else v
        return out
    if isinstance(a, str) and isinstance(b, str) and key == "state":
        return min((a, b), key=lambda s: STATES.index(s) if s in STATES else 0)
    return a if a not in ("", None) else b


def merge(docs: list[dict[str, Any] | None], workers: list[dict[str, Any]], now: float,
          interval_s: float, pid: int) -> dict[str, Any]:
    """One status document out of the workers' (None: not written yet or unreadable)."""
    stats: dict[str, Any] = {}
    doc: dict[str, Any] = {"completeness": {}, "alerts_open": {}, "alert_outputs": {}}
    for d in docs:
        if not d:
            continue
        stats = _merge(stats, d.get("stats", {})) if stats else dict(d.get("stats", {}))
        for k in doc:
            doc[k] = _merge(doc[k], d.get(k) or {})
    stats["running"] = bool(stats) and all(w["running"] for w in workers)
    return {"time": now, "pid": pid, "interval_s": interval_s, "stats": stats, **doc,
            "workers": workers}


def read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "stats" in doc else None


def worker_row(index: int, pid: int | None, running: bool, restarts: int, stations: int,
               doc: dict[str, Any] | None) -> dict[str, Any]:
    s = (doc or {}).get("stats", {})
    return {"index": index, "pid": pid, "running": running, "restarts": restarts,
            "stations": stations, "status_age_s": round(time.time() - doc["time"], 1)
            if doc else None, "readings_stored": s.get("totals", {}).get("readings_stored", 0),
            "spool_bytes": (s.get("spool") or {}).get("bytes", 0),
            "connected": bool(s.get("source", {}).get("connected"))}
