"""The collector's own metrics, out: a Prometheus text endpoint, `collector` points in InfluxDB
and `<data_dir>/status.json`, which `quantrac collector status` reads.

Everything is rendered from one status document built in the worker thread every
`interval_s` (the stages' state is the worker's alone); the HTTP thread only serves the last
document. `prometheus()` and `points()` are pure functions of that document.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from collector.contracts import Point
from collector.plugins import Env, Plugin, register
from quantrac_common.files import write_atomic

log = logging.getLogger("quantrac.collector.metrics")
MEASUREMENT = "collector"


def status_doc(collector: Any, now: float) -> dict[str, Any]:
    """Stats, per-station completeness of the last hour, open alerts and alert outputs."""
    doc: dict[str, Any] = {"time": now, "pid": os.getpid(), "stats": collector.stats}
    slice_ = getattr(collector, "slice", None)
    if slice_ is not None:  # one worker of several: its counters are its stations' only
        doc["worker"] = slice_.index
    for p in collector.processors:
        if hasattr(p, "completeness"):
            doc["completeness"] = p.completeness(now)
        if hasattr(p, "open_alerts"):
            doc["alerts_open"] = p.open_alerts()
    outputs = getattr(collector, "outputs", None)
    if outputs is not None:
        doc["alert_outputs"] = outputs.stats()
    return doc


def hour_ratio(params: dict[str, dict[str, Any]]) -> float:
    """Share of the expected records present in the last hour, over a station's parameters."""
    got = sum(min(p["n"], p["expected"]) for p in params.values())
    want = sum(p["expected"] for p in params.values())
    return got / want if want else 0.0


def _esc(v: object) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def prometheus(doc: dict[str, Any]) -> str:
    """The Prometheus text exposition (version 0.0.4) of a status document."""
    out: list[str] = []

    def metric(name: str, kind: str, help_: str, samples: list[tuple[dict, float]]) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            out.append(f"{name}{{{lab}}} {float(value)!r}" if lab else f"{name} {float(value)!r}")

    s = doc["stats"]
    t = s["totals"]
    q = "quantrac_collector_"
    metric(q + "up", "gauge", "1 while the collector runs.", [({}, float(s.get("running", 0)))])
    metric(q + "uptime_seconds", "gauge", "Seconds since start.", [({}, s.get("uptime_s", 0))])
    metric(q + "messages_total", "counter", "Messages from the broker, by topic kind.",
           [({"kind": k}, v) for k, v in sorted(t.get("messages_by_kind", {}).items())])
    metric(q + "readings_stored_total", "counter", "Readings stored in the database.",
           [({}, t.get("readings_stored", 0))])
    metric(q + "rejected_total", "counter", "Refused input, by reason class.",
           [({"reason": k}, v) for k, v in sorted(t.get("rejected_by_reason", {}).items())])
    metric(q + "duplicates_total", "counter", "Messages recognised as already stored.",
           [({}, t.get("duplicates", 0))])
    metric(q + "writes_total", "counter", "Database write attempts, by outcome.",
           [({"outcome": k}, v) for k, v in sorted(t.get("writes", {}).items())])
    metric(q + "queued", "gauge", "Messages waiting for the worker.", [({}, s.get("queued", 0))])
    metric(q + "broker_connected", "gauge", "1 while connected to the broker.",
           [({}, float(bool(s.get("source", {}).get("connected"))))])
    metric(q + "database_ok", "gauge", "1 while database writes succeed.",
           [({}, float(s.get("sink", {}).get("state") == "ok"))])
    spool = s.get("spool") or {}
    if spool:
        metric(q + "spool_bytes", "gauge", "Bytes in the spool.", [({}, spool.get("bytes", 0))])
        metric(q + "spool_max_bytes", "gauge", "Spool capacity.",
               [({}, spool.get("max_bytes", 0))])
        metric(q + "spool_pending_bytes", "gauge", "Spooled bytes a sink has not written yet.",
               [({"consumer": c}, v) for c, v in sorted(spool.get("pending_bytes", {}).items())])
    metric(q + "spool_full", "gauge", "1 while acknowledgements stop for a full spool.",
           [({}, float(bool(t.get("spool_full"))))])
    dead = s.get("dead_letters") or {}
    if dead:
        metric(q + "dead_letter_bytes", "gauge", "Bytes in the dead-letter file.",
               [({}, dead.get("bytes", 0))])
        metric(q + "dead_letter_max_bytes", "gauge", "Dead-letter file capacity.",
               [({}, dead.get("max_bytes", 0))])
        metric(q + "dead_letters_full", "gauge", "1 while acknowledgements stop because the "
               "dead letters hold only refused readings and failed messages.",
               [({}, float(bool(dead.get("full"))))])
        metric(q + "dead_letters_evicted_total", "counter", "Replayed, discarded or refused-"
               "input dead letters dropped to make room.", [({}, dead.get("evicted", 0))])
    stations = s.get("stations", {})
    st = "quantrac_station_"
    metric(st + "last_seen_timestamp_seconds", "gauge", "When a station's last message arrived.",
           [({"station": k}, v["last_seen"]) for k, v in stations.items() if v.get("last_seen")])
    metric(st + "readings_stored_total", "counter", "Readings stored, per station.",
           [({"station": k}, v.get("readings_stored", 0)) for k, v in stations.items()])
    metric(st + "online", "gauge", "The station's retained status (1 online, 0 offline).",
           [({"station": k}, float(v["online"])) for k, v in stations.items()
            if isinstance(v.get("online"), bool)])
    metric(st + "hour_completeness_ratio", "gauge",
           "Share of the expected records present in the last full hour.",
           [({"station": k, "param": p}, min(1.0, c["n"] / c["expected"]))
            for k, params in sorted(doc.get("completeness", {}).items())
            for p, c in sorted(params.items()) if c["expected"]])
    metric("quantrac_alerts_open", "gauge", "Open alerts per station.",
           [({"station": k}, len(v)) for k, v in sorted(doc.get("alerts_open", {}).items())])
    outputs = doc.get("alert_outputs", {})
    metric("quantrac_alert_output_delivered_total", "counter", "Alerts delivered, per output.",
           [({"output": k}, v["delivered"]) for k, v in sorted(outputs.items())])
    metric("quantrac_alert_output_refused_total", "counter", "Alerts refused for good.",
           [({"output": k}, v["refused"]) for k, v in sorted(outputs.items())])
    metric("quantrac_alert_output_waiting", "gauge", "Alerts waiting for delivery.",
           [({"output": k}, v["waiting"]) for k, v in sorted(outputs.items())])
    return "\n".join(out) + "\n"


def points(doc: dict[str, Any]) -> list[Point]:
    """`collector` points: one for the whole collector, one per station seen."""
    s, now = doc["stats"], int(doc["time"])
    t, spool = s["totals"], s.get("spool") or {}
    total: dict[str, float | int | bool | str] = {
        "messages": int(t.get("messages", 0)), "readings_stored": int(t.get("readings_stored", 0)),
        "rejected": int(t.get("rejected", 0)), "duplicates": int(t.get("duplicates", 0)),
        "queued": int(s.get("queued", 0)), "uptime_s": float(s.get("uptime_s", 0.0)),
        "broker_connected": bool(s.get("source", {}).get("connected")),
        "database_ok": s.get("sink", {}).get("state") == "ok",
        "alerts_open": sum(len(v) for v in doc.get("alerts_open", {}).values())}
    if spool:
        total["spool_bytes"] = int(spool.get("bytes", 0))
        # the database reader's backlog; the e-gov reader's is a field of its own
        readers = spool.get("pending_bytes", {})
        total["spool_pending_bytes"] = int(readers.get("influxdb", 0))
        if "egov" in readers:
            total["spool_pending_bytes_egov"] = int(readers["egov"])
    dead = s.get("dead_letters") or {}
    if dead:
        total["dead_letter_bytes"] = int(dead.get("bytes", 0))
        total["dead_letters_full"] = bool(dead.get("full"))
    # every worker writes its own total (tagged with it): one series each, not several
    # workers overwriting one series in turn; a single collector's keeps the tags it always had
    tags = {"scope": "total"} if doc.get("worker") is None else \
        {"scope": "total", "worker": str(doc["worker"])}
    out = [Point(MEASUREMENT, tags, total, now)]
    completeness = doc.get("completeness", {})
    for station, v in sorted(s.get("stations", {}).items()):
        fields: dict[str, float | int | bool | str] = {
            "messages": int(v.get("messages", 0)),
            "readings_stored": int(v.get("readings_stored", 0))}
        if v.get("last_seen"):
            fields["last_seen_age_s"] = float(max(0.0, doc["time"] - v["last_seen"]))
        if isinstance(v.get("online"), bool):
            fields["online"] = v["online"]
        if station in completeness:
            fields["hour_completeness"] = float(hour_ratio(completeness[station]))
        out.append(Point(MEASUREMENT, {"scope": "station", "station": station}, fields, now))
    return out


def write_status(path: Path, doc: dict[str, Any]) -> None:
    # rewritten every few seconds and only ever read for display: no disk flush each time
    write_atomic(path, json.dumps(doc, default=str), fsync=False)


class Exporter:
    """`start()`, `tick(now, stats) -> points` (from the worker), `stop()`, `url`."""

    def __init__(self, collector: Any, listen: str = "", interval_s: float = 10.0,
                 influx: bool = True, status_file: Path | None = None) -> None:
        self.collector = collector
        self.listen, self.interval_s, self.influx = listen, interval_s, influx
        self.status_file = status_file
        self.doc: dict[str, Any] | None = None
        self.url = ""
        self._next = 0.0
        self._started = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.listen:
            return
        host, _, port = self.listen.rpartition(":")
        try:
            self._server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), _handler(self))
        except (OSError, ValueError) as e:  # self-metrics are never worth stopping collection
            log.error("metrics endpoint %s not started: %s", self.listen, e)
            return
        self.url = f"http://{host or '127.0.0.1'}:{self._server.server_address[1]}/metrics"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="quantrac-metrics-http", daemon=True)
        self._thread.start()
        log.info("metrics at %s", self.url)

    def tick(self, now: float, stats: dict[str, Any] | None = None) -> list[Point]:
        if now < self._next:
            return []
        self._next = now + self.interval_s
        doc = status_doc(self.collector, now)
        doc["metrics_url"], doc["interval_s"] = self.url, self.interval_s
        self.doc = doc
        if self.status_file is not None:
            try:
                write_status(self.status_file, doc)
            except OSError as e:
                log.warning("status file %s not written: %s", self.status_file, e)
        first, self._started = not self._started, True
        # the snapshot at start is all zeros: status.json gets it, the database does not
        return points(doc) if self.influx and not first else []

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _handler(exporter: Exporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            doc = exporter.doc
            if self.path.split("?")[0] not in ("/metrics", "/status") or doc is None:
                self.send_error(404 if doc is not None else 503)
                return
            if self.path.startswith("/status"):
                body, kind = json.dumps(doc, default=str).encode(), "application/json"
            else:
                body, kind = prometheus(doc).encode(), "text/plain; version=0.0.4"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("metrics http: " + format, *args)

    return Handler


def build(o: MetricsOptions, env: Env, collector: Any) -> Exporter:
    """The exporter of `collector`'s stats (its `stats`, processors and outputs)."""
    return Exporter(collector, o.listen, o.interval_s, o.influx, env.data_dir / "status.json")


@dataclass(frozen=True)
class MetricsOptions:
    """[metrics]"""

    listen: str = field(default="", metadata={
        "doc": "host:port of the Prometheus endpoint (/metrics, /status); empty: none"})
    interval_s: float = field(default=10.0, metadata={
        "lo": 1, "hi": 3600, "doc": "how often metrics, status.json and points are refreshed"})
    influx: bool = field(default=True, metadata={"doc": "write `collector` points"})


register(Plugin("service", "metrics", MetricsOptions, build))
