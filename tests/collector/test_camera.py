"""Station cameras against a camera stand-in on loopback (JPEGs behind digest or basic auth):
snapshots stored by station and date, clear errors for a wrong password, an answer that is not
a JPEG or an RTSP camera without ffmpeg, retention, an alert's webhook notification carrying
its snapshot through the real alert outputs, and the start-up warning for a camera reached
over plain http on the network."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from collector_live import wait_for
from loopback_peers import CameraPeer, Webhook

from collector.camera.capture import CameraSpec, CaptureError, capture
from collector.camera.plugin import CameraModule, SnapshotOutputs, cameras
from collector.camera.store import SnapshotStore
from collector.config import ConfigError, Settings
from collector.contracts import Point
from collector.delivery.alert_outputs import AlertOutputs
from collector.sinks.notify.plugin import WebhookSink

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ENV = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
       "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
       "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
       "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}


def alert(station: str, event: str, t: int = 1772420400) -> Point:
    aid = f"{station}/qcvn05.so2.1h/{t}"
    note = {"v": 1, "st": station, "rule": "qcvn05.so2.1h", "state": "open", "t": t,
            "event": event, "id": aid, "severity": "warning", "value": 524.1,
            "text_vi": "…", "text_en": "…"}
    return Point("alert", {"station": station, "rule": "qcvn05.so2.1h", "severity": "warning"},
                 {"state": "open", "event": event, "id": aid}, t, note=note)


def test_a_snapshot_behind_digest_auth_is_stored_by_station_and_local_date(tmp_path):
    cam = CameraPeer(auth="digest")
    spec = CameraSpec("pq-air-01", cam.url, "digest", None, cam.user, cam.password)
    module = CameraModule({"pq-air-01": spec}, SnapshotStore(tmp_path, TZ),
                          public_url="https://quantrac.example/camera/")
    try:
        ref = module.snapshot("pq-air-01", "schedule")
        bad = CameraModule({"pq-air-01": CameraSpec("pq-air-01", cam.url, "digest", None,
                                                     cam.user, "wrong")},
                           SnapshotStore(tmp_path / "bad", TZ))
        refused = bad.snapshot("pq-air-01", "schedule")
    finally:
        cam.close()
    day = datetime.now(TZ).strftime("%Y-%m-%d")
    assert re.fullmatch(rf"pq-air-01/{day}/\d{{8}}-\d{{6}}-schedule\.jpg", ref["path"])
    assert (tmp_path / ref["path"]).read_bytes() == cam.images[0]
    assert ref["url"] == f"https://quantrac.example/camera/{ref['path']}"
    assert ref["bytes"] == len(cam.images[0]) and cam.refused >= 1  # challenged first
    assert module.stats()["cameras"]["pq-air-01"]["reachable"] is True
    assert "HTTP 401" in refused["error"] and "secrets file" in refused["error"]
    assert "wrong" not in refused["error"]
    stats = bad.stats()
    assert (stats["state"], stats["refused"], stats["cameras"]["pq-air-01"]["reachable"]) == \
        ("unreachable", 1, False)


def test_basic_auth_works_and_an_answer_that_is_not_a_jpeg_says_so(tmp_path):
    cam = CameraPeer(auth="basic")
    try:
        spec = CameraSpec("pq-ww-01", cam.url, "basic", None, cam.user, cam.password)
        assert capture(spec, 5.0) == cam.images[0]
        cam.body_override = b"<html>login page</html>"
        with pytest.raises(CaptureError, match="not a JPEG .*image/jpeg"):
            capture(spec, 5.0)
    finally:
        cam.close()


def test_an_rtsp_camera_without_ffmpeg_reports_why():
    if shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is installed; no RTSP server here to test it against")
    spec = CameraSpec("pq-sea-01", None, "digest", "rtsp://127.0.0.1:9/stream1", "u", "p4ss")
    with pytest.raises(CaptureError, match="RTSP snapshots need ffmpeg") as e:
        capture(spec, 2.0)
    assert "p4ss" not in str(e.value)


def test_retention_drops_old_days_then_the_oldest_images_over_the_byte_limit(tmp_path):
    now = time.time()
    store = SnapshotStore(tmp_path, TZ, retention_days=30, max_bytes=2500)
    old = store.save("pq-air-01", now - 40 * 86400, "schedule", b"\xff\xd8" + bytes(1000))
    kept = [store.save("pq-air-01", now - d * 3600, "schedule", b"\xff\xd8" + bytes(1000))
            for d in (50, 3, 2)]
    other = store.save("pq-air-04", now - 3600, "alert-open", b"\xff\xd8" + bytes(100))
    assert store.prune(now) == 2  # the 40-day-old one, then the oldest while over 2500 bytes
    present = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg")}
    assert present == {kept[1], kept[2], other}
    assert not (tmp_path / Path(old).parent).exists()


def test_an_alert_notification_carries_its_snapshot(tmp_path):
    cam, hook = CameraPeer(), Webhook()
    specs = {"pq-air-01": CameraSpec("pq-air-01", cam.url, "digest", None, cam.user,
                                     cam.password),
             "pq-air-04": CameraSpec("pq-air-04", "http://127.0.0.1:9/snapshot")}  # dead
    module = CameraModule(specs, SnapshotStore(tmp_path, TZ), interval_s=0, timeout_s=2)
    outputs = SnapshotOutputs(AlertOutputs({"webhook": WebhookSink(hook.url)},
                                           tmp_path / "alert-dead-letters.jsonl"), module)
    outputs.start()
    try:
        outputs.send([alert("pq-air-01", "open"), alert("pq-air-02", "open"),
                      alert("pq-air-04", "open")])
        wait_for(lambda: len(hook.bodies) == 3, lambda: f"3 webhook calls, got {hook.bodies}")
        outputs.send([alert("pq-air-01", "close"), alert("pq-air-04", "close")])
        wait_for(lambda: len(hook.bodies) == 5, lambda: f"5 webhook calls, got {hook.bodies}")
    finally:
        outputs.stop(5)
        cam.close()
        hook.close()
    by = {(b["st"], b["event"]): b for b in hook.bodies}
    opened, closed = by[("pq-air-01", "open")]["snapshot"], by[("pq-air-01", "close")]["snapshot"]
    assert opened["path"].endswith("-alert-open.jpg")
    assert closed["path"].endswith("-alert-close.jpg")
    assert (tmp_path / opened["path"]).read_bytes() == cam.images[0]
    assert (tmp_path / closed["path"]).read_bytes() == cam.images[1]
    assert "snapshot" not in by[("pq-air-02", "open")]  # no camera at that station
    # a dead camera: the first alert waited for it and says why; the next one did not wait
    assert "127.0.0.1:9" in by[("pq-air-04", "open")]["snapshot"]["error"]
    assert by[("pq-air-04", "close")]["snapshot"]["error"].startswith("camera unreachable")
    assert outputs.stats()["camera"]["cameras"]["pq-air-04"]["reachable"] is False


def test_scheduled_snapshots_keep_coming(tmp_path):
    cam = CameraPeer()
    spec = CameraSpec("pq-air-01", cam.url, "digest", None, cam.user, cam.password)
    module = CameraModule({"pq-air-01": spec}, SnapshotStore(tmp_path, TZ), interval_s=0.2)
    module.start()
    try:
        wait_for(lambda: len(cam.images) >= 3, "three scheduled snapshots")
    finally:
        module.stop(2)
        cam.close()
    assert len(list(tmp_path.rglob("*-schedule*.jpg"))) >= 3


def test_cameras_come_from_the_registry_and_the_config_with_secrets_apart(tmp_path):
    secrets = tmp_path / "cams.json"
    secrets.write_text('{"*": {"user": "admin", "password": "x"}, '
                       '"pq-air-15": {"user": "op", "password": "y"}}')
    os.chmod(secrets, 0o600)
    s = Settings.from_env(ENV, tmp_path, {"camera": {
        "enabled": True, "secrets": str(secrets),
        "snapshot_urls": ["pq-air-15=http://127.0.0.1:8080/snap"]}})
    from collector.camera.plugin import load_secrets

    found = cameras(s.camera, s.env_for("camera"), load_secrets(secrets))
    assert found["pq-air-01"] == CameraSpec(
        "pq-air-01", "http://10.20.1.11/onvif/snapshot?profile=1", "digest", None, "admin", "x")
    assert found["pq-sea-01"].rtsp == "rtsp://10.20.4.11:554/stream1"
    assert (found["pq-air-15"].snapshot_url, found["pq-air-15"].user) == \
        ("http://127.0.0.1:8080/snap", "op")
    with pytest.raises(ConfigError, match="snapshot_urls: 'pq-air-99=http://x'"):
        Settings.from_env(ENV, tmp_path, {"camera": {"enabled": True,
                                                      "snapshot_urls": ["pq-air-99=http://x"]}})
    with pytest.raises(ConfigError, match="pq-air-15: no credentials in the URL"):
        Settings.from_env(ENV, tmp_path, {"camera": {
            "enabled": True, "snapshot_urls": ["pq-air-15=http://admin:pw@10.0.0.9/snap"]}})
    with pytest.raises(ConfigError, match="default_auth = 'ntlm'"):
        Settings.from_env(ENV, tmp_path, {"camera": {"enabled": True, "default_auth": "ntlm"}})


@pytest.mark.parametrize("name", ["camera", "egov"])
def test_the_module_folders_follow_the_plugin_conventions(name):
    """Outside sources/processors/sinks, so tests/collector/test_collector_conventions.py does
    not see them: README with its sample, the sample in collector/sample.toml."""
    folder = Path(__file__).resolve().parents[2] / "collector" / name
    sample = (folder / "sample.toml").read_text().strip()
    assert (folder / "plugin.py").is_file()
    assert sample in (folder / "README.md").read_text()
    assert sample in (folder.parent / "sample.toml").read_text()


def test_a_camera_over_plain_http_on_the_network_is_a_warning_at_start(tmp_path, caplog):
    from collector.camera.plugin import build
    from collector.delivery.alert_outputs import AlertOutputs

    secrets = tmp_path / "cams.json"
    secrets.write_text('{"*": {"user": "admin", "password": "x"}}')
    s = Settings.from_env(ENV, tmp_path, {"camera": {
        "enabled": True, "secrets": str(secrets),
        "snapshot_urls": ["pq-air-15=http://127.0.0.1:8080/snap",
                          "pq-air-04=https://10.20.1.14/onvif/snapshot"]}})
    caplog.set_level("WARNING", logger="quantrac.collector.camera")
    outputs = build(s.camera, s.env_for("camera"), AlertOutputs({}, tmp_path / "adl.jsonl"))
    outputs.stop(1)
    said = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    # the registry's cameras at 10.20.x.x: pq-air-01 (digest), pq-ww-01 (basic)
    assert any(m.startswith("camera pq-air-01: http://10.20.1.11/onvif/snapshot?profile=1 is "
                            "plain http") for m in said), said
    (basic,) = [m for m in said if "basic auth" in m]
    assert "its password (basic auth) and images cross the LAN unencrypted" in basic
    assert not [m for m in said if "pq-air-15" in m or "pq-air-04" in m]  # loopback, https
