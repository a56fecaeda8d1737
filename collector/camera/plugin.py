"""The camera module: station IP cameras (the registry's `camera` objects) photograph the site
when an alert opens or closes and every `interval_s`, each camera on a thread of its own, so a
dead camera never slows ingest or another station's alerts.

    alert points ─▶ SnapshotOutputs ─(station has a camera)─▶ its camera thread: capture,
                         │                                      store, note["snapshot"] = ref
                         └─(no camera)──────────────────────────────────┐        │
                                                                        ▼        ▼
                                         the alert outputs (retained MQTT, webhook, e-mail)

A snapshot is stored under `<folder>/<station>/<yyyy-mm-dd>/`; its reference (path, url,
bytes, time) rides in the alert's payload (`snapshot`) to every output, and a `snapshot` point
plus a `camera` reachability point go to InfluxDB through a small outbox of their own
(`<data_dir>/camera-outbox`), so a database outage delays them and loses none. A camera that
failed less than `skip_after_failure_s` ago is not waited for: its alerts go on at once with
`"snapshot": {"error": …}`.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import boards
from collector.camera.capture import AUTHS, CameraSpec, CaptureError, capture
from collector.camera.options import CameraOptions
from collector.camera.store import SnapshotStore
from collector.contracts import Point
from collector.delivery.outbox import Outbox, OutboxError, OutboxItem, OutboxWorker, Outcome
from collector.delivery.safe_transport import check_ca_file, is_loopback
from collector.plugins import Env, Plugin, register

log = logging.getLogger("quantrac.collector.camera")
PRUNE_EVERY_S = 600.0
ALERT_EVENTS = ("open", "close")


def _registry_camera(station: boards.Station, default_auth: str) -> dict[str, Any] | None:
    """The station's `camera` object, checked; None without one."""
    cam = station.raw.get("camera")
    if cam is None:
        return None
    where = f"boards/registry: {station.id}.camera"
    if not isinstance(cam, dict):
        raise ValueError(f"{where}: must be an object")
    url, rtsp, auth = cam.get("snapshot_url"), cam.get("rtsp"), cam.get("auth", default_auth)
    for key, value, schemes in (("snapshot_url", url, ("http", "https")),
                                ("rtsp", rtsp, ("rtsp", "rtsps"))):
        if value is None:
            continue
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is None or parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"{where}.{key} = {value!r}: not a {'/'.join(schemes)} URL")
        if parts.username or parts.password:
            raise ValueError(f"{where}.{key}: no credentials in the registry; they belong in "
                             "the camera secrets file")
    if url is None and rtsp is None:
        raise ValueError(f"{where}: needs snapshot_url or rtsp")
    if auth not in AUTHS:
        raise ValueError(f"{where}.auth = {auth!r}: must be one of {', '.join(AUTHS)}")
    return {"snapshot_url": url, "rtsp": rtsp, "auth": auth}


def cameras(o: CameraOptions, env: Env, secrets: dict[str, dict[str, str]] | None = None
            ) -> dict[str, CameraSpec]:
    """station → camera, from the registry and `[camera] snapshot_urls`."""
    reg = boards.registry(env.registry)
    found = {s.id: c for s in reg.stations if (c := _registry_camera(s, o.default_auth))}
    for entry in o.snapshot_urls:
        station, sep, url = entry.partition("=")
        parts = urlsplit(url)
        if not sep or station not in reg.ids() or parts.scheme not in ("http", "https"):
            raise ValueError(f"[camera] snapshot_urls: {entry!r} is not "
                             "'<registry station>=<http(s) URL>'")
        if parts.username or parts.password:
            raise ValueError(f"[camera] snapshot_urls: {station}: no credentials in the URL; "
                             "they belong in the camera secrets file")
        found[station] = {**found.get(station, {"rtsp": None, "auth": o.default_auth}),
                          "snapshot_url": url}
    secrets = secrets or {}
    return {st: CameraSpec(st, c["snapshot_url"], c["auth"], c["rtsp"],
                           **{k: v for k, v in (secrets.get(st) or secrets.get("*") or {}).items()
                              if k in ("user", "password")})
            for st, c in found.items()}


def secrets_path(o: CameraOptions, env: Env) -> Path:
    return Path(o.secrets) if o.secrets else env.run_dir / "secrets" / "cameras.json"


def load_secrets(path: Path) -> dict[str, dict[str, str]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable camera secrets ({e})") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise ValueError(f"{path}: must map stations (or '*') to {{\"user\", \"password\"}}")
    return doc


def plain_http(specs: dict[str, CameraSpec]) -> list[str]:
    """A warning for each camera reached over plain http on the network (not loopback)."""
    out = []
    for st, spec in sorted(specs.items()):
        parts = urlsplit(spec.snapshot_url or "")
        if parts.scheme != "http" or is_loopback(parts.hostname):
            continue
        what = "its password (basic auth) and images" if spec.auth == "basic" and spec.user \
            else "its images"
        out.append(f"camera {st}: {spec.snapshot_url} is plain http: {what} cross the LAN "
                   "unencrypted, readable by anyone on it; use https if the camera offers it")
    return out


def check(o: CameraOptions, env: Env) -> None:
    if not o.enabled:
        return
    if o.default_auth not in AUTHS:
        raise ValueError(f"[camera] default_auth = {o.default_auth!r}: one of {', '.join(AUTHS)}")
    if o.ca_file:
        check_ca_file("[camera] ca_file", o.ca_file)
    cameras(o, env, load_secrets(secrets_path(o, env)))


class InfluxPoints:
    """Outbox deliverer: an item's points → the database (what was written again overwrites)."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def deliver(self, item: OutboxItem) -> Outcome:
        points = [Point(d["measurement"], d["tags"], d["fields"], d["time"]) for d in item.body]
        return Outcome.of(self.sink.write(points), len(points), "database kept the points")

    def close(self) -> None:
        self.sink.close()


class _Camera:
    def __init__(self, spec: CameraSpec) -> None:
        self.spec = spec
        self.jobs: queue.Queue[list[Point]] = queue.Queue()
        self.reachable: bool | None = None
        self.failed_at = self.last_ok = self.latency_s = None
        self.last_error = ""
        self.thread: threading.Thread | None = None

    def stats(self) -> dict[str, Any]:
        return {"where": self.spec.where, "reachable": self.reachable, "last_ok": self.last_ok,
                "last_error": self.last_error, "latency_s": self.latency_s}


class CameraModule:
    def __init__(self, specs: dict[str, CameraSpec], store: SnapshotStore, *,
                 points: OutboxWorker | None = None, interval_s: float = 3600.0,
                 on_alerts: bool = True, timeout_s: float = 10.0,
                 skip_after_failure_s: float = 300.0, public_url: str = "",
                 ffmpeg: str = "ffmpeg", tls: ssl.SSLContext | None = None) -> None:
        self.cams = {st: _Camera(spec) for st, spec in specs.items()}
        self.tls = tls
        self.store, self.points = store, points
        self.interval_s, self.on_alerts, self.timeout_s = interval_s, on_alerts, timeout_s
        self.skip_after_failure_s, self.ffmpeg = skip_after_failure_s, ffmpeg
        self.public_url = public_url.rstrip("/")
        self.forward: Callable[[list[Point]], None] = lambda points: None
        self.taken = self.failed = 0
        self._stopping = threading.Event()
        self._next_prune = 0.0

    def start(self) -> None:
        if self.points is not None:
            self.points.start()
        for cam in self.cams.values():
            cam.thread = threading.Thread(target=self._run, args=(cam,), daemon=True,
                                          name=f"quantrac-camera-{cam.spec.station}")
            cam.thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the capture in progress, send queued alerts on without a snapshot."""
        self._stopping.set()
        for cam in self.cams.values():
            if cam.thread is not None:
                cam.thread.join(timeout_s + self.timeout_s)
        if self.points is not None:
            self.points.stop(timeout_s)
            self.points.outbox.close()

    def alerts(self, station: str, points: list[Point]) -> None:
        """Non-blocking: the station's camera thread photographs, then forwards them."""
        self.cams[station].jobs.put(points)

    def stats(self) -> dict[str, Any]:
        down = {st: c.last_error for st, c in self.cams.items() if c.reachable is False}
        return {"state": "unreachable" if down else "ok",
                "last_error": "; ".join(f"{st}: {e}" for st, e in sorted(down.items())),
                "delivered": self.taken, "refused": self.failed,
                "waiting": sum(c.jobs.qsize() for c in self.cams.values()),
                "cameras": {st: c.stats() for st, c in sorted(self.cams.items())},
                "points": self.points.stats() if self.points is not None else None}

    def _run(self, cam: _Camera) -> None:
        next_shot = time.monotonic() if self.interval_s else float("inf")
        while True:
            try:
                job = cam.jobs.get(timeout=max(0.0, min(0.2, next_shot - time.monotonic())))
            except queue.Empty:
                job = None
            if self._stopping.is_set():
                while job is not None:  # no new captures once stopping; nothing is held back
                    self.forward(job)
                    job = cam.jobs.get_nowait() if not cam.jobs.empty() else None
                return
            try:
                if job is not None:
                    self._with_snapshot(cam, job)
                if time.monotonic() >= next_shot:
                    next_shot = time.monotonic() + self.interval_s
                    self.snapshot(cam.spec.station, "schedule")
            except Exception:  # a bug must not silence the camera or hold an alert back
                log.exception("camera %s: failed", cam.spec.station)
                if job is not None:
                    self.forward(job)

    def _with_snapshot(self, cam: _Camera, points: list[Point]) -> None:
        events = [p for p in points if (p.note or {}).get("event") in ALERT_EVENTS]
        if not (self.on_alerts and events):
            self.forward(points)
            return
        recent = cam.failed_at is not None and \
            time.time() - cam.failed_at < self.skip_after_failure_s
        if cam.reachable is False and recent:
            ref: dict[str, Any] = {"station": cam.spec.station, "t": int(time.time()),
                                   "error": f"camera unreachable: {cam.last_error}"}
        else:
            opening = [p for p in events if p.note["event"] == "open"]
            first = (opening or events)[0]
            ref = self.snapshot(cam.spec.station, "alert-open" if opening else "alert-close",
                                str(first.note.get("id", "")))
        marked = {id(p) for p in events}
        self.forward([Point(p.measurement, p.tags, p.fields, p.time,
                            note={**p.note, "snapshot": ref}) if id(p) in marked else p
                      for p in points])

    def snapshot(self, station: str, reason: str, alert_id: str = "") -> dict[str, Any]:
        """Capture, store and record one snapshot; its reference (or {"error": …})."""
        cam = self.cams[station]
        started, now = time.monotonic(), time.time()
        t = int(now)
        try:
            data = capture(cam.spec, self.timeout_s, self.ffmpeg, self.tls)
        except CaptureError as e:
            cam.latency_s = round(time.monotonic() - started, 3)
            cam.reachable, cam.failed_at, cam.last_error = False, now, str(e)
            self.failed += 1
            log.warning("camera %s unreachable: %s", station, e)
            self._record(station, now, reason, [Point(
                "camera", {"station": station},
                {"reachable": False, "latency_s": float(cam.latency_s), "error": str(e)}, t)])
            return {"station": station, "t": t, "error": str(e)}
        cam.latency_s = round(time.monotonic() - started, 3)
        path = self.store.save(station, now, reason, data)
        cam.reachable, cam.last_ok, cam.last_error = True, now, ""
        self.taken += 1
        ref: dict[str, Any] = {"station": station, "t": t, "reason": reason, "path": path,
                               "bytes": len(data)}
        fields: dict[str, Any] = {"path": path, "bytes": len(data)}
        if self.public_url:
            ref["url"] = fields["url"] = f"{self.public_url}/{path}"
        if alert_id:
            fields["alert"] = alert_id
        self._record(station, now, reason, [
            Point("snapshot", {"station": station, "reason": reason}, fields, t),
            Point("camera", {"station": station},
                  {"reachable": True, "latency_s": float(cam.latency_s), "bytes": len(data)}, t)])
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_S
            self.store.prune(now)
        return ref

    def _record(self, station: str, now: float, reason: str, points: list[Point]) -> None:
        if self.points is None:
            return
        body = [{"measurement": p.measurement, "tags": p.tags, "fields": p.fields,
                 "time": p.time} for p in points]
        try:
            self.points.outbox.add([OutboxItem("influxdb", f"{station}/{now:.6f}/{reason}",
                                               body)])
        except (OutboxError, OSError) as e:
            log.error("camera %s: %s; the %s point is not stored", station, e, reason)


class SnapshotOutputs:
    """The alert outputs with a camera in front: the same `start`, `send`, `stop`, `stats`."""

    def __init__(self, inner: Any, camera: CameraModule) -> None:
        self.inner, self.camera = inner, camera
        camera.forward = inner.send

    @property
    def names(self) -> list[str]:
        return [*self.inner.names, "camera"]

    def own(self, stations: frozenset[str], leader: bool) -> None:
        """One worker of several: only its stations' cameras (their alerts arise here; the
        schedule photographs each camera once, in its owner)."""
        self.camera.cams = {st: c for st, c in self.camera.cams.items() if st in stations}

    def start(self) -> None:
        self.inner.start()
        self.camera.start()

    def send(self, points: list[Point]) -> None:
        held: dict[str, list[Point]] = {}
        rest = []
        for p in points:
            if p.measurement == "alert" and p.note is not None and p.station in self.camera.cams:
                held.setdefault(p.station, []).append(p)
            else:
                rest.append(p)
        if rest:
            self.inner.send(rest)
        for station, group in held.items():
            self.camera.alerts(station, group)

    def stop(self, timeout_s: float = 10.0) -> None:
        self.camera.stop(timeout_s)
        self.inner.stop(timeout_s)

    def stats(self) -> dict[str, Any]:
        return {**self.inner.stats(), "camera": self.camera.stats()}


def build(o: CameraOptions, env: Env, outputs: Any) -> Any:
    """`outputs` (the alert outputs) with the camera module in front when `[camera] enabled`
    and a station has a camera; else `outputs` itself."""
    if not o.enabled:
        return outputs
    specs = cameras(o, env, load_secrets(secrets_path(o, env)))
    if not specs:
        log.warning("camera: enabled, but no registry station has a camera")
        return outputs
    for warning in plain_http(specs):
        log.warning("%s", warning)
    from collector.sinks.influxdb.plugin import InfluxSink

    tz = ZoneInfo(boards.registry(env.registry).timezone)
    folder = Path(o.folder) if o.folder else env.data_dir / "camera"
    sink = InfluxSink(env.influx_write_url, env.influx_db, env.influx_write_user,
                      env.influx_write_password, timeout_s=env.peer("influxdb").timeout_s)
    box = Outbox(env.data_dir / "camera-outbox", ("influxdb",), keep_s=86400)
    worker = OutboxWorker(box, "influxdb", InfluxPoints(sink), retry_initial_s=o.retry_initial_s,
                          retry_max_s=o.retry_max_s)
    module = CameraModule(specs, SnapshotStore(folder, tz, retention_days=o.retention_days,
                                               max_bytes=o.max_bytes),
                          points=worker, interval_s=o.interval_s, on_alerts=o.on_alerts,
                          timeout_s=o.timeout_s, skip_after_failure_s=o.skip_after_failure_s,
                          public_url=o.public_url, ffmpeg=o.ffmpeg,
                          tls=ssl.create_default_context(cafile=o.ca_file or None))
    return SnapshotOutputs(outputs, module)


register(Plugin("service", "camera", CameraOptions, build, check, reads=("influxdb",)))
