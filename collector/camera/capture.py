"""One JPEG from a station's IP camera: an HTTP snapshot URL (the ONVIF `GetSnapshotUri`
answer) with no, basic or digest authentication, or an RTSP stream through ffmpeg.

Every failure is a `CaptureError` whose message says what went wrong (never the password):
no answer, a refused login, an answer that is not a JPEG, no ffmpeg for an RTSP camera.
ffmpeg never sees the password: it reads the stream of a camera with a login through an
`RtspRelay` on a loopback port, which logs in for it (rtsp_relay.py).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from collector.camera.rtsp_relay import RelayError, RtspRelay

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


def http_snapshot(spec: CameraSpec, timeout_s: float, tls: ssl.SSLContext | None = None
                  ) -> bytes:
    """`tls`: checks an https camera's certificate (None: the system's CAs)."""
    url = spec.snapshot_url or ""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPSHandler(context=tls)]
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
        reason = getattr(e, "reason", e)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise CaptureError(f"{url}: the camera's certificate does not verify "
                               f"({reason.verify_message}); check [camera] ca_file and the host "
                               "name in its URL") from None
        raise CaptureError(f"{url}: {reason}") from None
    if len(data) > MAX_BYTES:
        raise CaptureError(f"{url}: answer larger than {MAX_BYTES} bytes")
    return check_jpeg(data, url, kind)


def rtsp_snapshot(spec: CameraSpec, timeout_s: float, ffmpeg: str = "ffmpeg",
                  tls: ssl.SSLContext | None = None) -> bytes:
    where = spec.where
    exe = shutil.which(ffmpeg)
    if exe is None:
        raise CaptureError(f"{where}: RTSP snapshots need ffmpeg, and {ffmpeg!r} is not "
                           "installed (apt-get install ffmpeg)")
    url = spec.rtsp or ""
    if not spec.user:
        return _ffmpeg_frame(exe, url, timeout_s, where)
    try:
        relay = RtspRelay(url, spec.user, spec.password, timeout_s, tls=tls)
    except (RelayError, OSError) as e:
        raise CaptureError(f"{where}: {e}") from None
    with relay:
        try:
            return _ffmpeg_frame(exe, relay.url, timeout_s, where)
        except CaptureError as e:
            if relay.refused_login:
                raise CaptureError(f"{where}: RTSP 401, the camera refused the login (check "
                                   "the camera's user and password in the secrets file)") from None
            if relay.error:
                raise CaptureError(f"{e} ({relay.error})") from None
            raise


def _ffmpeg_frame(exe: str, url: str, timeout_s: float, where: str) -> bytes:
    """One frame of `url` as a JPEG; `url` holds no password (see rtsp_snapshot)."""
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


def capture(spec: CameraSpec, timeout_s: float, ffmpeg: str = "ffmpeg",
            tls: ssl.SSLContext | None = None) -> bytes:
    """The snapshot URL when the camera has one, else its RTSP stream; `tls` checks the
    certificate of an https or rtsps camera (None: the system's CAs)."""
    if spec.snapshot_url:
        return http_snapshot(spec, timeout_s, tls)
    if spec.rtsp:
        return rtsp_snapshot(spec, timeout_s, ffmpeg, tls)
    raise CaptureError(f"{spec.station}: the camera has neither snapshot_url nor rtsp")
