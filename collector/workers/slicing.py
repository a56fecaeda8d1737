"""Which worker owns which station, and the settings a worker runs from.

Ownership is rendezvous hashing (highest random weight) over sha1, never Python's randomized
`hash`: every process and every restart computes the same owner, and going from N to N-1
workers moves only the removed worker's stations (each to the worker that scores next best),
so a re-slice hands over as few stations as possible.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boards

COLLECTOR = "collector"  # collector/alerting/rules.py COLLECTOR: the collector's own alerts
STATION_LEVEL = "+"  # the station's place in a topic filter: quantrac/v1/<station>/data


def _score(worker: int, station: str) -> int:
    return int.from_bytes(hashlib.sha1(f"{worker}/{station}".encode()).digest()[:8], "big")


def owner(station: str, count: int) -> int:
    """The worker (0 … count-1) that owns `station`."""
    return max(range(count), key=lambda w: _score(w, station))


@dataclass(frozen=True)
class Slice:
    """Worker `index` of `count`: its stations; the leader (worker 0) also runs what exists
    once for the whole network (the e-gov open data, collector-wide alert rules)."""

    index: int
    count: int
    stations: frozenset[str]

    @property
    def leader(self) -> bool:
        return self.index == 0


def slice_of(registry: str, index: int, count: int) -> Slice:
    if not 0 <= index < count:
        raise ValueError(f"worker {index} of {count}: must be 0 … {count - 1}")
    ids = boards.registry(registry).ids()
    return Slice(index, count, frozenset(s for s in ids if owner(s, count) == index))


def topics(filters: tuple[str, ...], s: Slice) -> tuple[str, ...]:
    """Each filter with `+` at the station level becomes one filter per owned station (the
    leader's include the collector's own alerts' pseudo-station, whose rules only it judges:
    an acknowledgement on quantrac/v1/collector/answer must reach it, as `+` does for a single
    collector); a filter without it (a fixed topic someone added) is the leader's."""
    out: list[str] = []
    ids = sorted(s.stations) + ([COLLECTOR] if s.leader else [])
    for f in filters:
        levels = f.split("/")
        if len(levels) >= 3 and levels[2] == STATION_LEVEL:
            out += ["/".join([*levels[:2], st, *levels[3:]]) for st in ids]
        elif s.leader:
            out.append(f)
    return tuple(out)


def count_of(value: str) -> int:
    """`--workers`: a number ≥ 1, or `auto` (the cores this process may use)."""
    if value == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"--workers {value!r}: a number of at least 1, or auto")
    return int(value)


def usable_count(registry: str, wanted: int) -> int:
    """At most `wanted` workers, as many as leave none of them without a station."""
    count = wanted
    while count > 1 and any(not slice_of(registry, i, count).stations for i in range(count)):
        count -= 1
    return count


def worker_dir(data_dir: Path, index: int) -> Path:
    return Path(data_dir) / f"worker-{index}"


def worker_settings(settings: Any, s: Slice) -> Any:
    """`settings` for worker `s`: its own session (client id `<id>-w<i>`), subscriptions, data
    folder (spool, state, dead letters, outboxes, status.json) and no metrics endpoint (the
    supervisor serves one for all)."""
    from collector.config import with_options

    c, m = settings.collector, settings.mqtt
    data = worker_dir(settings.data_dir, s.index)
    dead = Path(c.dead_letters) if c.dead_letters else None
    groups: dict[str, dict[str, Any]] = {
        "collector": {"data_dir": str(data),
                      "dead_letters": str(dead.with_name(f"{dead.stem}-w{s.index}{dead.suffix}"))
                      if dead else ""},
        "mqtt": {"client_id": f"{m.client_id}-w{s.index}", "topics": list(topics(m.topics, s))},
        "metrics": {"listen": ""}}
    if settings.mqtt_alerts.client_id:
        groups["mqtt_alerts"] = {"client_id": f"{settings.mqtt_alerts.client_id}-w{s.index}"}
    if settings.egov.folder:  # one e-gov outbox and state per worker, like the spool
        groups["egov"] = {"folder": str(Path(settings.egov.folder) / f"worker-{s.index}")}
    return with_options(settings, **groups)
