"""Drops readings of messages already stored, recognised by (station, boot, seq).

A duplicate (a redelivery after a lost PUBACK, a reconnect, a station resending) is counted in
`batch.duplicates` and acknowledged with its batch, not stored again. A message is remembered
only in `commit()`, once its readings are durable in the spool: a batch the pipeline abandons
(spool failure, stop) is not remembered, so its redelivery is stored.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from collector.contracts import Batch
from collector.plugins import Env, Plugin, register
from collector.processors.dedupe.options import DedupeOptions
from collector.processors.dedupe.seen import SeenSet

log = logging.getLogger("quantrac.collector.dedupe")

Key = tuple[str, str, int]


class DedupeProcessor:
    name = "dedupe"

    def __init__(self, boots_per_station: int = 8, ranges_per_boot: int = 256,
                 forget_after_s: float = 30 * 86400) -> None:
        self.seen = SeenSet(boots_per_station, ranges_per_boot, forget_after_s)
        self._pending: list[Key] = []

    def process(self, batch: Batch) -> Batch:
        self._pending = []  # keys of a batch never committed are not remembered
        kept, first, out = set(), {}, []
        key: Key | None = None
        keep = True
        for r in batch.readings:
            if r.seq < 0:  # not from a station message (no identity to compare): keep
                out.append(r)
                continue
            k = (r.station, r.boot, r.seq)
            sig = (r.param, r.time)
            # A new copy of a message starts where the key changes, or where the first
            # reading of this key shows up again (the same message delivered twice in a row).
            if k != key or first.get(k) == sig:
                key = k
                first.setdefault(k, sig)
                keep = k not in kept and k not in self.seen
                if keep:
                    kept.add(k)
                    self._pending.append(k)
                else:
                    batch.duplicates.append(k)
            if keep:
                out.append(r)
        batch.readings = out
        return batch

    def commit(self, batch: Batch) -> None:
        now = time.time()
        for k in self._pending:
            self.seen.add(k, now)
        self._pending = []

    def state(self) -> dict[str, Any]:
        return self.seen.state()

    def restore(self, state: dict[str, Any]) -> None:
        try:
            log.info("dedupe: %d boots restored", self.seen.restore(state))
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            log.warning("dedupe: saved state unreadable (%s); starting empty", e)


def build(opts: DedupeOptions, env: Env) -> DedupeProcessor:
    return DedupeProcessor(opts.boots_per_station, opts.ranges_per_boot, opts.forget_after_s)


register(Plugin("processor", "dedupe", DedupeOptions, build))
