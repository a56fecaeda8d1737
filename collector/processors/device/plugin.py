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
the message's `t` when the station's clock is plausible, else the receive time. A bad field is
left out and logged; a message that cannot be read is logged and skipped (it is acknowledged
all the same: status and events carry no readings).
"""

from __future__ import annotations

import logging
from typing import Any

import boards
from collector.contracts import Batch, Envelope, Point, topic_parts
from collector.processors.device.messages import DeviceMessageError, parse

log = logging.getLogger("quantrac.collector.device")
MEASUREMENT = "device"


class DeviceProcessor:
    name = "device"

    def __init__(self, registry: str = "phu-quoc") -> None:
        self.kinds = {s.id: s.kind for s in boards.registry(registry).stations}
        self.skipped = 0  # messages that could not become a point (logged with the reason)

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
        for p in problems:
            log.warning("%s: %s left out (the rest is stored)", env.topic, p)
        return Point(MEASUREMENT, {"station": station, "kind": kind, "message": message},
                     fields, t)

    def _skip(self, env: Envelope, why: str) -> None:
        self.skipped += 1
        log.warning("%s: not stored as a device point: %s", env.topic, why)
        return None


def build(settings: Any) -> DeviceProcessor:
    return DeviceProcessor(settings.collector.registry)
