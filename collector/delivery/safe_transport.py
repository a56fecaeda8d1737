"""Rules for the connections that carry a secret (a token, a login, a password): TLS unless
the peer is this machine, and no redirects.

A login, a token or a password sent over plain HTTP, FTP or SMTP can be read by anyone on the
path; loopback is the one place a clear-text connection never leaves the host (tests and local
relays use it). A redirect is not followed either: urllib would repeat a POST as a GET without
its body (and count it delivered when that GET answers 2xx) and send the headers, bearer token
included, to whatever host `Location` names. A 3xx from a receiver is a configuration matter.
"""

from __future__ import annotations

import ipaddress
import ssl
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit


def is_loopback(host: str | None) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1; another name is not resolved (what it resolves to can
    change after the check)."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def https_url(key: str, url: str, carries: str) -> str:
    """'' when `url` may carry `carries` (https://, or http:// to a loopback host); else the
    error naming the option `key`, the URL and why."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{key} = {url!r}: not an http(s) URL"
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        return (f"{key} = {url!r}: plain http would send {carries} in clear text; use "
                "https:// (http:// only to a loopback host)")
    return ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[override]
        raise urllib.error.HTTPError(req.full_url, code, msg, headers, fp)


def opener(context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    """A urllib opener that answers every 3xx with its HTTPError instead of following it;
    `context` checks https certificates (None: the system's CAs)."""
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                       _NoRedirects())


def is_redirect(status: int) -> bool:
    return 300 <= status < 400


def redirect_error(url: str, status: int, headers: Any, key: str) -> str:
    """What the operator reads for a 3xx: the status, where it pointed, the option to fix."""
    where = (headers.get("Location") if headers is not None else None) or "nowhere"
    return (f"{url}: HTTP {status} redirect to {where}: not followed (a redirect is never "
            f"followed with credentials or a POST); set {key} to the address that answers")


def check_ca_file(key: str, path: str) -> None:
    """Refuse at load a CA file (`key` names the option) that TLS could not verify with, rather
    than at the first delivery."""
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError) as e:
        raise ValueError(f"{key} = {path!r}: not a readable PEM CA certificate ({e})") from None
