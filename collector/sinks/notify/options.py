"""[sinks.notify] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _opt(default, lo=None, hi=None, doc=""):
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class NotifyOptions:
    """[sinks.notify]"""

    webhook_url: str = _opt("", doc="POST each alert's JSON here; empty: no webhook")
    smtp_host: str = _opt("", doc="SMTP server for e-mail alerts; empty: no e-mail")
    smtp_port: int = _opt(25, 1, 65535, "SMTP port")
    smtp_from: str = _opt("quantrac@localhost", doc="sender address")
    smtp_to: tuple[str, ...] = _opt((), doc="recipients")
    smtp_starttls: bool = _opt(False, doc="STARTTLS before sending, the server's "
                               "certificate and host name checked")
    smtp_ca_file: str = _opt("", doc="PEM file of the CA that signed the SMTP server's "
                             "certificate; empty: the system's CAs")
    smtp_user: str = _opt("", doc="SMTP login (needs smtp_starttls); the password comes from "
                          "QUANTRAC_SMTP_PASSWORD")
    min_severity: str = _opt("warning", doc="info, warning or critical: the least that is sent")
    timeout_s: float = _opt(10.0, 0.1, 600, "timeout of one HTTP request or SMTP session")
    retry_initial_s: float = _opt(1.0, 0.01, 3600, "first back-off of every alert output")
    retry_max_s: float = _opt(300.0, 0.01, 86400, "longest back-off of every alert output")
