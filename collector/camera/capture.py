"""One JPEG from a station's IP camera: an HTTP snapshot URL (the ONVIF `GetSnapshotUri`
answer) with no, basic or digest authentication, or an RTSP stream through ffmpeg.

Every failure is a `CaptureError` whose message says what went wrong (never the password):
no answer, a refused login, an answer that is not a JPEG, no ffmpeg for an RTSP camera.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

AUTHS = ("none", "basic", "digest")
MAX_BYTES = 20 << 20  # no snapshot is larger; a camera streaming MJPEG by mistake is cut off
JPEG_START = b"\xff\xd8"


class CaptureError(RuntimeError):
    pass


@dataclass(frozen=True)
class CameraSpec:
    """A station's camera: from the registry's `camera` object (or `[camera] snapshot_urls`),
    credentials from the secrets file."""

    station: str
    snapshot_url: str | None = None
    auth: str = "digest"
    rtsp: str | None = None
    user: str = ""
    password: str = field(default="", repr=False)  # never in a log line

    @property
    def where(self) -> str:
        """The camera's address without credentials, for logs and stats."""
        return self.snapshot_url or _hide(self.rtsp or "")


def _hide(url: str) -> str:
    p = urlsplit(url)
    return urlunsplit(p._replace(netloc=p.hostname + (f":{p.port}" if p.port else ""))) \
        if p.hostname else url


def check_jpeg(data: bytes, where: str, content_type: str = "") -> bytes:
    if not data.startswith(JPEG_START):
        raise CaptureError(f"{where}: the answer is not a JPEG ({len(data)} bytes"
                           f"{', ' + content_type if content_type else ''}, starts "
                           f"{data[:8]!r})")
    return data


def http_snapshot(spec: CameraSpec, timeout_s: float) -> bytes:
    url = spec.snapshot_url or ""
    handlers: list[urllib.request.BaseHandler] = []
    if spec.auth in ("basic", "digest") and spec.user:
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, url, spec.user, spec.password)
        handlers.append(urllib.request.HTTPDigestAuthHandler(mgr) if spec.auth == "digest"
                        else urllib.request.HTTPBasicAuthHandler(mgr))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, headers={"User-Agent": "quantrac-collector",
                                               "Accept": "image/jpeg"})
    try:
        with opener.open(req, timeout=timeout_s) as resp:
            data = resp.read(MAX_BYTES + 1)
            kind = resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        hint = " (check the camera's user and password in the secrets file)" \
            if e.code == 401 else ""
        raise CaptureError(f"{url}: HTTP {e.code} {e.reason}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise CaptureError(f"{url}: {getattr(e, 'reason', e)}") from None
    if len(data) > MAX_BYTES:
        raise CaptureError(f"{url}: answer larger than {MAX_BYTES} bytes")
    return check_jpeg(data, url, kind)


def rtsp_snapshot(spec: CameraSpec, timeout_s: float, ffmpeg: str = "ffmpeg") -> bytes:
    where = spec.where
    exe = shutil.which(ffmpeg)
    if exe is None:
        raise CaptureError(f"{where}: RTSP snapshots need ffmpeg, and {ffmpeg!r} is not "
                           "installed (apt-get install ffmpeg)")
    url = spec.rtsp or ""
    p = urlsplit(url)
    if spec.user and p.hostname and "@" not in p.netloc:
        netloc = f"{quote(spec.user, safe='')}:{quote(spec.password, safe='')}@{p.netloc}"
        url = urlunsplit(p._replace(netloc=netloc))
    cmd = [exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
           "-i", url, "-frames:v", "1", "-f", "image2", "-c:v", "mjpeg", "pipe:1"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise CaptureError(f"{where}: no frame within {timeout_s:.0f} s") from None
    except OSError as e:
        raise CaptureError(f"{where}: ffmpeg could not run ({e})") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().replace(url, where)[-300:]
        raise CaptureError(f"{where}: ffmpeg failed ({why or done.returncode})")
    return check_jpeg(done.stdout, where)


def capture(spec: CameraSpec, timeout_s: float, ffmpeg: str = "ffmpeg") -> bytes:
    """The snapshot URL when the camera has one, else its RTSP stream."""
    if spec.snapshot_url:
        return http_snapshot(spec, timeout_s)
    if spec.rtsp:
        return rtsp_snapshot(spec, timeout_s, ffmpeg)
    raise CaptureError(f"{spec.station}: the camera has neither snapshot_url nor rtsp")
