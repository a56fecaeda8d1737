"""RTSP cameras with a login: ffmpeg never gets the password. ffmpeg is the outside world here
(and not installed on the test machines), so a stand-in `ffmpeg` first on PATH plays its part:
it reads the URL it was given, speaks RTSP over TCP to it as ffmpeg does (OPTIONS, DESCRIBE,
SETUP, PLAY, one interleaved frame) and records its own /proc/self/cmdline and environ. The
camera is a real RTSP server on loopback behind digest authentication. Cameras over TLS
(rtsps, https) are read only when the configured CA signed their certificate."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from loopback_peers import CameraPeer, RtspCameraPeer

from collector.camera.capture import CameraSpec
from collector.camera.plugin import CameraModule, load_secrets
from collector.camera.store import SnapshotStore

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ENV = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
       "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
       "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
       "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}
FAKE_FFMPEG = r'''#!{python}
import json, os, socket, sys
from pathlib import Path
from urllib.parse import urlsplit

seen = {{"cmdline": Path("/proc/self/cmdline").read_bytes().decode(errors="replace"),
        "environ": Path("/proc/self/environ").read_bytes().decode(errors="replace")}}
Path(sys.argv[0]).with_name(f"seen-{{os.getpid()}}.json").write_text(json.dumps(seen))
url = sys.argv[sys.argv.index("-i") + 1]
p = urlsplit(url)
f = socket.create_connection((p.hostname, p.port or 554), timeout=5).makefile("rwb")
cseq = 0

def request(method, uri, *headers):
    global cseq
    cseq += 1
    lines = [f"{{method}} {{uri}} RTSP/1.0", f"CSeq: {{cseq}}", "User-Agent: Lavf", *headers]
    f.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    f.flush()
    status = f.readline().decode().split(" ", 2)
    head = {{}}
    while (line := f.readline().decode().strip()):
        k, _, v = line.partition(":")
        head[k.strip().lower()] = v.strip()
    f.read(int(head.get("content-length", 0)))
    if status[1] != "200":
        sys.stderr.write(f"[rtsp] method {{method}} failed: {{status[1]}} {{status[2].strip()}}\n")
        sys.exit(1)
    return head

request("OPTIONS", url)
base = request("DESCRIBE", url, "Accept: application/sdp").get("content-base", url + "/")
session = request("SETUP", base + "trackID=1",
                  "Transport: RTP/AVP/TCP;unicast;interleaved=0-1")["session"].split(";")[0]
request("PLAY", base, f"Session: {{session}}", "Range: npt=0.000-")
assert f.read(1) == b"$"
f.read(1)
packet = f.read(int.from_bytes(f.read(2), "big"))
sys.stdout.buffer.write(packet[12:])
'''


@pytest.fixture
def ffmpeg_on_path(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    exe = folder / "ffmpeg"
    exe.write_text(FAKE_FFMPEG.format(python=sys.executable))
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


def secrets_file(tmp_path: Path, user: str, password: str) -> Path:
    path = tmp_path / "cameras.json"
    path.write_text(json.dumps({"pq-sea-01": {"user": user, "password": password}}))
    path.chmod(0o600)
    return path


def leaks(seen_folder: Path, secrets: Path) -> list[str]:
    """Every secret of the secrets file (as written and URL-encoded) found in a child's
    command line or environment."""
    values = [v for cam in json.loads(secrets.read_text()).values() for v in cam.values()]
    forms = {f for v in values for f in (v, quote(v, safe=""), quote(v))}
    seen = [json.loads(p.read_text()) for p in sorted(seen_folder.glob("seen-*.json"))]
    assert seen, "ffmpeg did not run"
    return [f"{where}: {form}" for s in seen for where in ("cmdline", "environ")
            for form in forms if form in s[where]]


def test_ffmpeg_reads_an_rtsp_camera_with_a_login_that_never_is_on_its_command_line(
        tmp_path, ffmpeg_on_path):
    cam = RtspCameraPeer(user="rtsp-op", password="S3cr3t/pa ss@cam:1")
    secrets = secrets_file(tmp_path, cam.user, cam.password)
    login = load_secrets(secrets)["pq-sea-01"]
    spec = CameraSpec("pq-sea-01", None, "digest", cam.url, login["user"], login["password"])
    module = CameraModule({"pq-sea-01": spec}, SnapshotStore(tmp_path / "img", TZ), timeout_s=10)
    try:
        ref = module.snapshot("pq-sea-01", "schedule")
    finally:
        cam.close()
    assert leaks(ffmpeg_on_path, secrets) == []
    assert "error" not in ref, ref
    assert (tmp_path / "img" / ref["path"]).read_bytes() == cam.frames[0]
    assert [m for m, _, ok in cam.requests if ok] == ["OPTIONS", "DESCRIBE", "SETUP", "PLAY"]


def test_a_wrong_rtsp_password_is_named_as_such_and_still_not_on_the_command_line(
        tmp_path, ffmpeg_on_path):
    cam = RtspCameraPeer(user="rtsp-op", password="right-one")
    secrets = secrets_file(tmp_path, "rtsp-op", "Wr0ng-pass")
    spec = CameraSpec("pq-sea-01", None, "digest", cam.url, **load_secrets(secrets)["pq-sea-01"])
    module = CameraModule({"pq-sea-01": spec}, SnapshotStore(tmp_path / "img", TZ), timeout_s=10)
    try:
        ref = module.snapshot("pq-sea-01", "schedule")
    finally:
        cam.close()
    assert leaks(ffmpeg_on_path, secrets) == []
    assert "RTSP 401, the camera refused the login" in ref["error"]
    assert "secrets file" in ref["error"] and "Wr0ng-pass" not in ref["error"]
    assert cam.frames == [] and cam.refused == 2  # the challenge, then the wrong answer


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists(),
                    reason="needs root to connect as another user")
def test_the_relay_serves_no_other_local_user(tmp_path):
    from collector.camera.rtsp_relay import RtspRelay

    client = """if True:
        import socket, sys
        from urllib.parse import urlsplit
        p = urlsplit(sys.argv[1])
        s = socket.create_connection((p.hostname, p.port), timeout=5)
        s.sendall(f"OPTIONS {sys.argv[1]} RTSP/1.0\\r\\nCSeq: 1\\r\\n\\r\\n".encode())
        try:
            print(repr(s.recv(4096)))
        except ConnectionResetError:
            print(repr(b""))
    """
    cam = RtspCameraPeer()
    try:
        with RtspRelay(cam.url, cam.user, cam.password, 5.0) as relay:
            other = subprocess.run(["/usr/bin/python3", "-c", client, relay.url], user=65534,
                                   group=65534, capture_output=True, timeout=10, check=False)
            ours = subprocess.run(["/usr/bin/python3", "-c", client, relay.url],
                                  capture_output=True, timeout=10, check=False)
    finally:
        cam.close()
    assert other.stdout.strip() == b"b''", other  # shut without an answer
    assert ours.stdout.startswith(b"b'RTSP/1.0 200 OK"), ours
    assert cam.requests == [("OPTIONS", cam.url, True)]  # only ours reached the camera


def test_tls_cameras_are_checked_against_the_configured_ca(tmp_path, ffmpeg_on_path):
    from collector.config import ConfigError, Settings
    from quantrac.field.tls import Authority

    Authority.ensure(tmp_path / "ca.crt", tmp_path / "ca.key").server(tmp_path, ["127.0.0.1"])
    tls = (tmp_path / "server.crt", tmp_path / "server.key")
    rtsps = RtspCameraPeer(user="rtsp-op", password="pw-1", tls=tls)
    https = CameraPeer(tls=tls)
    specs = {"pq-sea-01": CameraSpec("pq-sea-01", None, "digest", rtsps.url, "rtsp-op", "pw-1"),
             "pq-air-01": CameraSpec("pq-air-01", https.url, "digest", None, https.user,
                                     https.password)}
    try:
        refs = {}
        for name, ca in (("system", None), ("ours", str(tmp_path / "ca.crt"))):
            module = CameraModule(specs, SnapshotStore(tmp_path / name, TZ), timeout_s=10,
                            tls=ssl.create_default_context(cafile=ca))
            refs[name] = {st: module.snapshot(st, "schedule") for st in specs}
    finally:
        rtsps.close()
        https.close()
    for st in specs:  # the system's CAs do not know the department's: nothing is read
        assert "the camera's certificate does not verify" in refs["system"][st]["error"], \
            refs["system"][st]
        assert "[camera] ca_file" in refs["system"][st]["error"]
        assert "path" in refs["ours"][st], refs["ours"][st]
    assert len(rtsps.frames) == 1 and len(https.images) == 1
    assert rtsps.handshakes[0].startswith("failed") and rtsps.handshakes[1] == "ok"
    with pytest.raises(ConfigError, match=r"\[camera\] ca_file = '/nonexistent\.pem'"):
        Settings.from_env(ENV, tmp_path, {"camera": {"enabled": True,
                                                      "ca_file": "/nonexistent.pem"}})
