"""The collector's only wiring: source → bounded queue → worker (processors in config order →
dead letters → running sink) → acks back to the source.

    broker ──paho thread──▶ queue ──worker──▶ validate ─▶ … ─▶ RunningSink ─▶ InfluxDB
       ▲                                         │ rejected          │ stored
       └──────────── ack ◀── dead-letter file ◀──┘───────────────────┘

A message is acknowledged to the broker only after its readings are stored or it has been
written to the dead-letter file; until then the broker keeps it (persistent session), so a
crash or a database outage loses nothing. Messages are handled in batches: whatever has queued
up while the previous batch was written goes into the next one.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable

from collector.config import Settings
from collector.contracts import Batch, Envelope, Processor, Rejected, Sink, Source, topic_parts
from collector.dead_letters import DeadLetters
from collector.metrics import Metrics
from collector.running_sink import RunningSink

log = logging.getLogger("quantrac.collector")


def _validate(s: Settings) -> Processor:
    from collector.processors.validate.plugin import ValidateProcessor

    return ValidateProcessor(s.collector.registry, s.validate.max_future_s)


PROCESSORS: dict[str, Callable[[Settings], Processor]] = {"validate": _validate}


def mqtt_source(s: Settings, metrics: Metrics) -> Source:
    from collector.sources.mqtt.plugin import MqttSource

    m = s.mqtt
    return MqttSource(s.mqtt_host, s.mqtt_port, s.mqtt_user, s.mqtt_password,
                      client_id=m.client_id, topics=m.topics, qos=m.qos,
                      keepalive_s=m.keepalive_s, reconnect_min_s=m.reconnect_min_s,
                      reconnect_max_s=m.reconnect_max_s, metrics=metrics)


def influx_sink(s: Settings) -> Sink:
    from collector.sinks.influxdb.plugin import InfluxSink

    return InfluxSink(s.influx_write_url, s.influx_db, s.influx_write_user,
                      s.influx_write_password, timeout_s=s.influxdb.timeout_s)


class Collector:
    """`start()`, `stop()` (drains and flushes), `stats` (a snapshot, see `Metrics.snapshot`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.dead_letters = DeadLetters(settings.dead_letters)
        self.processors = [PROCESSORS[name](settings) for name in settings.collector.processors]
        self.source = mqtt_source(settings, self.metrics)
        opts = settings.influxdb
        self.sink = RunningSink(influx_sink(settings), self.dead_letters, self.metrics,
                                batch_size=opts.batch_size, flush_interval_s=opts.flush_interval_s,
                                retry_initial_s=opts.retry_initial_s, retry_max_s=opts.retry_max_s)
        self._queue: queue.Queue[Envelope] = queue.Queue(maxsize=settings.collector.queue_size)
        self._accepting = False
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            raise RuntimeError("collector already started (a stopped one cannot restart)")
        self._accepting = True
        self._worker = threading.Thread(target=self._run, name="quantrac-collector", daemon=True)
        self._worker.start()
        self.source.start(self._emit)
        wait = self.settings.mqtt.connect_wait_s
        if wait and not self.wait_ready(wait):
            log.warning("not subscribed to %s:%s after %.0f s; still trying in the background",
                        self.settings.mqtt_host, self.settings.mqtt_port, wait)

    def wait_ready(self, timeout: float) -> bool:
        """True once the broker has confirmed the subscriptions."""
        waiter = getattr(self.source, "wait_subscribed", None)
        return bool(waiter(timeout)) if waiter else True

    def stop(self) -> None:
        """Store what has arrived (retrying for at most stop_timeout_s), ack it, disconnect."""
        if self._closed:
            return
        self._closed = True
        self._accepting = False  # later messages stay unacked with the broker for next time
        self.sink.give_up_after(self.settings.collector.stop_timeout_s)
        self._stopping.set()
        if self._worker is not None:
            self._worker.join()
        self.source.stop()
        self.sink.sink.close()
        log.info("collector stopped: %s", self.metrics.snapshot()["totals"])

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    @property
    def stats(self) -> dict:
        snap = self.metrics.snapshot()
        snap["running"] = self.running
        snap["queued"] = self._queue.qsize()
        snap["buffered"] = self.sink.buffered
        return snap

    # -- source thread ---------------------------------------------------------------------

    def _emit(self, env: Envelope) -> None:
        warned = False
        while self._accepting:
            try:
                self._queue.put(env, timeout=0.5)
                return
            except queue.Full:
                if not warned:
                    log.warning("queue full (%d messages): holding the broker back",
                                self._queue.maxsize)
                    warned = True

    # -- worker thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                try:
                    first = self._queue.get(timeout=0.1)
                except queue.Empty:
                    if self.sink.buffered and not self.sink.flush():
                        return
                    if self._stopping.is_set():
                        return
                    continue
                envs = [first]
                while len(envs) < self.settings.influxdb.batch_size:
                    try:
                        envs.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                try:
                    self._handle(envs)
                except Exception:  # a bug here must not stop collection; the batch stays unacked
                    log.exception("could not handle %d messages; left unacknowledged", len(envs))
                if (self.sink.due() or self._queue.empty()) and not self.sink.flush():
                    return
        except Exception:
            log.exception("collector worker failed; unacknowledged messages stay with the broker")

    def _handle(self, envs: list[Envelope]) -> None:
        data: list[Envelope] = []
        for env in envs:
            parts = topic_parts(env.topic)
            kind = parts[1] if parts else "other"
            self.metrics.received(parts[0] if parts else None, kind)
            if kind in ("status", "event"):
                self._note(parts[0], kind, env)
                self._ack([env])
            else:
                data.append(env)  # `validate` refuses what is not a station data topic
        if not data:
            return
        batch = Batch(data)
        for p in self.processors:
            try:
                batch = p.process(batch)
            except Exception as e:  # keep the input in dead letters rather than stall the stream
                name = getattr(p, "name", type(p).__name__)
                log.exception("processor %s failed on a batch of %d messages", name, len(data))
                batch = Batch(data, rejected=[Rejected(env, f"processor {name} failed: {e!r}",
                                                       "internal") for env in data])
                break
        to_ack = data
        if batch.rejected:
            for r in batch.rejected:
                log.warning("rejected %s: %s", r.envelope.topic, r.reason)
                self.metrics.rejected(r.cls)
            try:
                self.dead_letters.add(batch.rejected)
            except OSError as e:
                log.error("dead-letter file %s not writable (%s): %d rejected messages stay "
                          "unacknowledged", self.dead_letters.path, e, len(batch.rejected))
                refused = {id(r.envelope) for r in batch.rejected}
                to_ack = [env for env in data if id(env) not in refused]
        self.sink.add(batch.readings, lambda: self._ack(to_ack))

    def _note(self, station: str, kind: str, env: Envelope) -> None:
        """Status and event messages are only counted for now; status tells online/offline."""
        if kind == "status":
            try:
                online = json.loads(env.payload).get("online")
            except Exception:  # anything a station sends: bad JSON, a list, absurd nesting
                online = None
            if isinstance(online, bool):
                self.metrics.online(station, online)
        log.debug("%s from %s: %r", kind, station, env.payload[:200])

    def _ack(self, envs: list[Envelope]) -> None:
        for env in envs:
            try:
                self.source.ack(env.token)
            except Exception:
                log.exception("ack failed for %s", env.topic)
