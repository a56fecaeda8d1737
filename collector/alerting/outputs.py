"""Alert points → each alert sink (retained MQTT, webhook, e-mail), each in its own thread.

Every output is a `RunningSink` around its sink, so it batches, retries with back-off and
dead-letters what its receiver refuses for good (into `<run_dir>/collector/
alert-dead-letters.jsonl`), and a slow or failing receiver never holds up the collector or
another output. Alerts reach the outputs only after their points are stored with the batch;
at `stop()` an output keeps retrying for the stop timeout, then logs what it could not send.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.contracts import Point, Sink, WriteResult
from collector.dead_letters import DeadLetters
from collector.metrics import Metrics
from collector.running_sink import RunningSink

log = logging.getLogger("quantrac.collector.alerts.out")


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
        self._append([{"time": now, "topic": f"quantrac/v1/alerts/{p.station}",
                       "alert": p.note, "reason": reason, "class": self.output}
                      for p, reason in items])


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
    """`start()`, `send(points)` (non-blocking), `stop(timeout_s)`, `stats()`."""

    def __init__(self, outputs: dict[str, Sink], dead_letters_path: Path, *,
                 retry_initial_s: float = 1.0, retry_max_s: float = 300.0) -> None:
        self._outputs = [_Output(name, sink, dead_letters_path, retry_initial_s, retry_max_s)
                         for name, sink in outputs.items()]
        self._started = False

    @property
    def names(self) -> list[str]:
        return [o.name for o in self._outputs]

    def start(self) -> None:
        for o in self._outputs:
            o.thread.start()
        self._started = True

    def send(self, points: list[Point]) -> None:
        alerts = [p for p in points if p.measurement == "alert" and p.note is not None]
        if alerts and self._started:
            for o in self._outputs:
                o.queue.put(alerts)

    def stop(self, timeout_s: float = 10.0) -> None:
        if not self._started:
            return
        self._started = False
        for o in self._outputs:
            o.running.give_up_after(timeout_s)
            o.stopping.set()
        for o in self._outputs:
            o.thread.join()
            try:
                o.sink.close()
            except Exception:
                log.exception("%s: close failed", o.name)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {o.name: o.stats() for o in self._outputs}


def build(settings: Any, factories: dict[str, Callable[[Any], Sink | None]] | None = None
          ) -> AlertOutputs:
    """The outputs whose factory returns a sink for these settings (None: not configured);
    without `factories`: retained MQTT, webhook and e-mail."""
    if factories is None:
        from collector.sinks.mqtt_alerts.plugin import build as mqtt
        from collector.sinks.notify.plugin import build_email, build_webhook

        factories = {"mqtt_alerts": mqtt, "webhook": build_webhook, "email": build_email}
    if "alerts" not in settings.collector.processors:
        factories = {}
    outputs = {}
    for name, make in factories.items():
        sink = make(settings)
        if sink is not None:
            outputs[name] = sink
    return AlertOutputs(outputs, settings.data_dir / "alert-dead-letters.jsonl",
                        retry_initial_s=settings.notify.retry_initial_s,
                        retry_max_s=settings.notify.retry_max_s)
