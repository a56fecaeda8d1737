"""[camera] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _opt(default, lo=None, hi=None, doc=""):
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class CameraOptions:
    """[camera]"""

    enabled: bool = _opt(False, doc="run the camera module")
    secrets: str = _opt("", doc="JSON file: station (or '*') -> {user, password}; "
                        "empty: <run_dir>/secrets/cameras.json")
    snapshot_urls: tuple[str, ...] = _opt((), doc="'<station>=<url>': replaces or adds a "
                                          "registry camera's snapshot URL")
    default_auth: str = _opt("digest", doc="auth of a camera added by snapshot_urls")
    folder: str = _opt("", doc="images; empty: <data_dir>/camera")
    public_url: str = _opt("", doc="where the folder is served; empty: paths only")
    interval_s: float = _opt(3600.0, 0, 86400 * 7, "scheduled snapshot period; 0: none")
    on_alerts: bool = _opt(True, doc="a snapshot when an alert opens or closes")
    timeout_s: float = _opt(10.0, 0.1, 300, "one capture")
    skip_after_failure_s: float = _opt(300.0, 0, 86400, "alerts do not wait for a camera "
                                       "that failed this recently")
    retention_days: float = _opt(30.0, 0, 3650, "images older than this are deleted")
    max_bytes: int = _opt(10 << 30, 1 << 20, 1 << 44, "disk the images may use")
    ca_file: str = _opt("", doc="https/rtsps cameras: PEM file of the CA that signed their "
                        "certificates; empty: the system's CAs")
    ffmpeg: str = _opt("ffmpeg", doc="ffmpeg for RTSP cameras")
    retry_initial_s: float = _opt(1.0, 0.01, 3600, "first back-off of the InfluxDB points")
    retry_max_s: float = _opt(300.0, 0.01, 86400, "longest back-off")
