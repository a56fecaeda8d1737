"""Station `status` and `event` messages → `device` points (docs/influxdb-schema.md).

The pipeline hands this stage the status and event envelopes it receives (they never go
through `validate`, which takes data messages only) and spools the points before it acks the
messages, like readings. Data batches pass through untouched. What a point holds:

- `status` (retained; the last will says `online: false`): `online`, `fw`, `boot`;
- `birth` (once per boot): `fw`, `boot`, `reset` (reset cause), `crumb` (what the station was
  doing when it went down), `boots`, `uptime_before`;
- `health` (every `health_s`): `heap` (free bytes), `backlog` (records waiting), `dropped`,
  `rssi` (dBm), `uptime` (s), `errors` (total) and `errors_by` (`name=count …`).

Tags: `station`, `kind` (from the registry) and `message` (`status`, `birth`, `health`). Time:
the message's `t` when the station's clock is plausible, else the receive time.

A status is retained, so the broker hands it over again at every collector (re)subscribe. The
stage remembers each station's last status (online, boot, fw, station time; kept with the
collector's state) and stores a repeat of it only once: without this a station's last will,
which carries no time, would add an "offline" point at every collector restart. A bad field is
left out and logged; a message that cannot be read is logged and skipped (it is acknowledged
all the same: status and events carry no readings).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import boards
from collector.contracts import Batch, Envelope, Point, topic_parts
from collector.plugins import Env, Plugin, register
from collector.processors.device.messages import DeviceMessageError, parse

log = logging.getLogger("quantrac.collector.device")
MEASUREMENT = "device"


class DeviceProcessor:
    name = "device"

    def __init__(self, registry: str = "phu-quoc") -> None:
        self.kinds = {s.id: s.kind for s in boards.registry(registry).stations}
        self.skipped = 0  # messages that could not become a point (logged with the reason)
        self.last_status: dict[str, list] = {}  # station -> [online, boot, fw, station t]
        self.repeats = 0  # retained statuses seen again and not stored twice

    def process(self, batch: Batch) -> Batch:
        for env in batch.envelopes:
            parts = topic_parts(env.topic)
            if not parts or parts[1] not in ("status", "event"):
                continue
            try:
                point = self.point(parts[0], parts[1], env)
            except Exception:  # a bug here must not hold back the acks of the whole batch
                log.exception("%s: device point failed", env.topic)
                point = self._skip(env, "internal error (logged above)")
            if point is not None:
                batch.points.append(point)
        return batch

    def point(self, station: str, topic_kind: str, env: Envelope) -> Point | None:
        kind = self.kinds.get(station)
        if kind is None:
            return self._skip(env, f"station {station!r} is not in the registry")
        try:
            parsed = parse(station, topic_kind, env.payload, env.received_at)
        except DeviceMessageError as e:
            return self._skip(env, str(e))
        if parsed is None:
            return None
        message, fields, t, problems = parsed
        if message == "status" and self._repeat(station, fields, env.payload):
            return None
        for p in problems:
            log.warning("%s: %s left out (the rest is stored)", env.topic, p)
        return Point(MEASUREMENT, {"station": station, "kind": kind, "message": message},
                     fields, t)

    def _repeat(self, station: str, fields: dict, payload: bytes) -> bool:
        """Whether this status is the one last stored for the station (a retained copy)."""
        try:
            sent_t = json.loads(payload).get("t")
        except (ValueError, AttributeError):
            sent_t = None
        key = [fields.get("online"), fields.get("boot"), fields.get("fw"), sent_t]
        if self.last_status.get(station) == key:
            self.repeats += 1
            return True
        self.last_status[station] = key
        return False

    def state(self) -> dict[str, Any]:
        return {"last_status": self.last_status}

    def restore(self, state: dict[str, Any]) -> None:
        kept = state.get("last_status") if isinstance(state, dict) else None
        if isinstance(kept, dict):
            self.last_status = {str(k): v for k, v in kept.items() if isinstance(v, list)}

    def _skip(self, env: Envelope, why: str) -> None:
        self.skipped += 1
        log.warning("%s: not stored as a device point: %s", env.topic, why)
        return None


def build(opts: DeviceOptions, env: Env) -> DeviceProcessor:
    return DeviceProcessor(env.registry)


@dataclass(frozen=True)
class DeviceOptions:
    """[processors.device]: none yet."""


register(Plugin("processor", "device", DeviceOptions, build))
