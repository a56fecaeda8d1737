"""Alert points → each alert sink (retained MQTT, webhook, e-mail), each in its own thread.

Every output retries with back-off and dead-letters what its receiver refuses for good (into
`<run_dir>/collector/alert-dead-letters.jsonl`), and a slow or failing receiver never holds up
the collector or another output. Alerts reach the outputs only after their points are stored
with the batch.

The outputs that reach people (webhook, e-mail) are durable when the collector gives them an
outbox folder (`<data_dir>/alert-outbox`, collector/delivery/outbox.py): an alert is on disk
(fsync'd) before `send()` returns, each output delivers its own copy oldest first, and what a
stop, a crash or a long receiver outage leaves undelivered goes out after the next start, once
(the alert's id, event and time are the idempotency key). The retained MQTT alert needs no outbox:
the next transition republishes the station's whole alert state. An output without an outbox
keeps its alerts in memory: at `stop()` it retries for the stop timeout, then logs what it
could not send.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from collector.contracts import Point, Sink, WriteResult
from collector.dead_letters import DeadLetters
from collector.delivery.outbox import (
    Outbox,
    OutboxDeadLetters,
    OutboxError,
    OutboxItem,
    OutboxWorker,
    Outcome,
)
from collector.delivery.running_sink import RunningSink
from collector.metrics import Metrics
from collector.sinks.mqtt_alerts.plugin import FORECAST_TOPIC, TOPIC

log = logging.getLogger("quantrac.collector.alerts.out")


def alert_topic(p: Point) -> str:
    """The topic the alert is retained on: a forecast warning (`forecast: true`) has its own,
    below the station's measured alerts (forecast/outputs.py)."""
    forecast = isinstance(p.note, dict) and p.note.get("forecast") is True
    return (FORECAST_TOPIC if forecast else TOPIC).format(station=p.station)


class AlertDeadLetters(DeadLetters):
    """Alerts a receiver refused: the payload, the receiver's reason, the output's name as
    the class. The outputs share one file and one lock."""

    _shared = threading.Lock()

    def __init__(self, path: Path, output: str) -> None:
        super().__init__(path)
        self.output = output
        self._lock = self._shared

    def add_readings(self, items: list[tuple[Any, str]], cls: str = "sink") -> None:
        now = time.time()
        self._append([{"time": now, "topic": alert_topic(p),
                       "alert": p.note, "reason": reason, "class": self.output}
                      for p, reason in items])


DURABLE = ("webhook", "email", "zalo", "telegram")  # outputs through the outbox, when there is one


class _OutboxDeadLetters(AlertDeadLetters, OutboxDeadLetters):
    """The outbox worker's refusals, written like every other alert dead letter."""

    def add_items(self, items: list[tuple[OutboxItem, str]]) -> None:
        self.add_readings([(_point(it.body), reason) for it, reason in items])


def _item(dest: str, p: Point) -> OutboxItem:
    note = p.note or {}
    key = f"{note.get('id', p.station)}|{note.get('event', '')}|{note.get('t', p.time)}"
    return OutboxItem(dest, key, {"measurement": p.measurement, "tags": p.tags,
                                  "fields": p.fields, "time": p.time, "note": p.note})


def _point(body: dict) -> Point:
    return Point(body["measurement"], body["tags"], body["fields"], body["time"], body["note"])


class _SinkDeliverer:
    """One alert at a time from the outbox into the sink; its WriteResult as an Outcome."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def deliver(self, item: OutboxItem) -> Outcome:
        return Outcome.of(self.sink.write([_point(item.body)]), 1, "not delivered")

    def close(self) -> None:
        close = getattr(self.sink, "close", None)
        if close:
            close()


class _DurableOutput:
    """An output whose alerts wait in the shared outbox (see the module's docstring)."""

    def __init__(self, name: str, sink: Sink, outbox: Outbox, dead_letters: Path,
                 retry_initial_s: float, retry_max_s: float) -> None:
        self.name = name
        self.outbox = outbox
        self.worker = OutboxWorker(outbox, name, _SinkDeliverer(sink),
                                   retry_initial_s=retry_initial_s, retry_max_s=retry_max_s,
                                   dead_letters=_OutboxDeadLetters(dead_letters, name))

    def stats(self) -> dict[str, Any]:
        s = self.worker.stats()
        return {"state": s["state"], "last_error": s["last_error"], "delivered": s["delivered"],
                "refused": s["refused"], "waiting": s["waiting"]}


class _Counting:
    """The sink, counting what it delivered."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.delivered = 0

    def write(self, items: list) -> WriteResult:
        result = self.sink.write(items)
        self.delivered += len(result.accepted)
        return result

    def close(self) -> None:
        close = getattr(self.sink, "close", None)
        if close:
            close()


class _Output:
    def __init__(self, name: str, sink: Sink, dead_letters: Path, retry_initial_s: float,
                 retry_max_s: float) -> None:
        self.name = name
        dead = AlertDeadLetters(dead_letters, name)
        self.sink = _Counting(sink)
        self.metrics = Metrics()
        self.running = RunningSink(self.sink, dead, self.metrics, batch_size=100,  # type: ignore[arg-type]
                                   flush_interval_s=0.0, retry_initial_s=retry_initial_s,
                                   retry_max_s=retry_max_s, name=name)
        self.queue: queue.Queue[list[Point]] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"quantrac-alerts-{name}",
                                       daemon=True)

    def _run(self) -> None:
        while True:
            try:
                items = self.queue.get(timeout=0.2)
            except queue.Empty:
                if self.stopping.is_set():
                    return
                continue
            self.running.add(items, lambda: None)
            try:
                if not self.running.flush():
                    log.error("%s: stopping with %d alerts not delivered", self.name,
                              self.running.buffered + sum(len(x) for x in self.queue.queue))
                    return
            except Exception:  # a bug in one output must not end the others
                log.exception("%s: delivery failed", self.name)

    def stats(self) -> dict[str, Any]:
        snap = self.metrics.snapshot()
        return {"state": snap["sink"]["state"], "last_error": snap["sink"]["last_error"],
                "delivered": self.sink.delivered, "refused": snap["totals"]["rejected"],
                "waiting": self.running.buffered + self.queue.qsize()}


class AlertOutputs:
    """`start()`, `send(points)` (non-blocking but for one fsync), `stop(timeout_s)`,
    `stats()`. With `outbox_dir`, the DURABLE outputs keep their alerts there."""

    def __init__(self, outputs: dict[str, Sink], dead_letters_path: Path, *,
                 retry_initial_s: float = 1.0, retry_max_s: float = 300.0,
                 outbox_dir: Path | None = None) -> None:
        durable = [n for n in outputs if n in DURABLE] if outbox_dir is not None else []
        self._sinks = outputs
        self._dead = dead_letters_path
        self._retry = (retry_initial_s, retry_max_s)
        self._outbox_dir = outbox_dir
        self._durable_names = durable
        self._outbox: Outbox | None = None
        self._durable: list[_DurableOutput] = []
        self._outputs = [_Output(name, sink, dead_letters_path, retry_initial_s, retry_max_s)
                         for name, sink in outputs.items() if name not in durable]
        self._started = False

    @property
    def names(self) -> list[str]:
        return list(self._sinks)

    def start(self) -> None:
        """Opens the outbox (OutboxError when another collector holds it): what the last
        run left there is delivered first."""
        if self._durable_names and self._outbox_dir is not None:
            self._outbox = Outbox(self._outbox_dir, self._durable_names, keep_s=7 * 86400)
            self._durable = [_DurableOutput(n, self._sinks[n], self._outbox, self._dead,
                                            *self._retry) for n in self._durable_names]
            for d in self._durable:
                d.worker.start()
                if d.stats()["waiting"]:
                    log.info("%s: %d alerts from before the last stop to deliver", d.name,
                             d.stats()["waiting"])
        for o in self._outputs:
            o.thread.start()
        self._started = True

    def send(self, points: list[Point]) -> None:
        alerts = [p for p in points if p.measurement == "alert" and p.note is not None]
        if alerts and self._started:
            if self._outbox is not None:
                try:
                    self._outbox.add(_item(d.name, p) for d in self._durable for p in alerts)
                except (OutboxError, OSError) as e:  # full or failing disk: the alert points
                    # are stored all the same; only these deliveries are lost, and said so
                    log.error("alert outbox %s: %s; %d alerts not queued for %s",
                              self._outbox_dir, e, len(alerts), ", ".join(self._durable_names))
            for o in self._outputs:
                o.queue.put(alerts)

    def stop(self, timeout_s: float = 10.0) -> None:
        if not self._started:
            return
        self._started = False
        for o in self._outputs:
            o.running.give_up_after(timeout_s)
            o.stopping.set()
        for d in self._durable:
            d.worker.stop(timeout_s)
            left = d.stats()["waiting"]
            if left:
                log.warning("%s: %d alerts kept in %s for the next start", d.name, left,
                            self._outbox_dir)
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
        for o in self._outputs:
            o.thread.join()
            try:
                o.sink.close()
            except Exception:
                log.exception("%s: close failed", o.name)

    def stats(self) -> dict[str, dict[str, Any]]:
        out = {o.name: o.stats() for o in self._outputs}
        out.update({d.name: d.stats() for d in self._durable})
        return out

