"""A translating proxy: InfluxDB v2 write API in front of a 1.x server that lacks it.

influxdb-client speaks only `/api/v2/write`; InfluxDB 1.8+ serves that path for 1.x databases
(bucket `db/rp`, token `user:password`), the Debian 1.6 server does not. This process rewrites
the path and the credentials and nothing else: the body (gzip or not) is streamed through
unread, and the server's status and answer come back as they are, so the writer sees exactly
what the database decided. It keeps no queue: when the server is down the writer gets 503 and
does its own retrying.

Run: python -m collector.services.v2proxy --listen 127.0.0.1:PORT --upstream URL --log FILE
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import logging
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

# v2 precision names → 1.x /write precision names
PRECISIONS = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}
REQUEST_HEADERS = ("Content-Type", "Content-Encoding", "Accept", "User-Agent")
RESPONSE_HEADERS = ("Content-Type", "Content-Encoding", "Retry-After", "X-Influxdb-Error",
                    "X-Influxdb-Version", "X-Influxdb-Build", "Request-Id", "X-Request-Id")
UPSTREAM_TIMEOUT_S = 60.0

log = logging.getLogger("quantrac.v2proxy")


class Refused(Exception):
    """A request the proxy answers itself, v2-style, without asking the server."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def translate_write(query: str, authorization: str | None) -> tuple[str, str]:
    """v2 write query string + Authorization → (1.x /write path with query, Authorization)."""
    args = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    bucket = args.get("bucket", "")
    db, _, rp = bucket.partition("/")
    if not db or "/" in rp or (bucket.endswith("/") and not rp):
        raise Refused(400, "invalid",
                      f"bucket {bucket!r} is not 'database' or 'database/retention_policy'")
    precision = args.get("precision", "ns")
    if precision not in PRECISIONS:
        raise Refused(400, "invalid",
                      f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    params = {"db": db, "precision": PRECISIONS[precision]}
    if rp:
        params["rp"] = rp
    return "/write?" + urlencode(params), upstream_auth(authorization)


def upstream_auth(authorization: str | None) -> str:
    """`Token user:password` (the 1.8 compatibility form) → Basic; Basic passes as it is.

    Basic rather than u/p query parameters keeps passwords out of the server's access log.
    """
    scheme, _, cred = (authorization or "").strip().partition(" ")
    cred = cred.strip()
    if scheme.lower() == "basic" and cred:
        return f"Basic {cred}"
    if scheme.lower() == "token" and cred:
        user, sep, password = cred.partition(":")
        if not sep or not user:
            raise Refused(401, "unauthorized",
                          "token must be 'user:password' (InfluxDB 1.x compatibility form)")
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    raise Refused(401, "unauthorized",
                  "missing credentials: send 'Authorization: Token user:password'")


class _BoundedBody:
    """Exactly `left` bytes of the request, read in blocks while http.client sends them."""

    def __init__(self, stream, left: int) -> None:
        self.stream, self.left = stream, left

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.read(want)
        if not data:
            raise ConnectionError(f"client closed with {self.left} body bytes unsent")
        self.left -= len(data)
        return data


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: influxdb-client pools its connections
    server: ProxyServer

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path != "/api/v2/write":
            self._skip_body()
            return self._refuse(Refused(404, "not found", f"path not found: {url.path}"))
        try:
            path, auth = translate_write(url.query, self.headers.get("Authorization"))
            length = self._content_length()
        except Refused as e:
            self._skip_body()
            return self._refuse(e)
        headers = {k: self.headers[k] for k in REQUEST_HEADERS if self.headers.get(k)}
        headers.update({"Authorization": auth, "Content-Length": str(length)})
        self._forward("POST", path, headers, _BoundedBody(self.rfile, length))

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        if path == "/ping":
            return self._forward("GET", "/ping", {}, None)
        if path == "/health":
            return self._health()
        return self._refuse(Refused(404, "not found", f"path not found: {path}"))

    def do_HEAD(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/ping":
            return self._forward("HEAD", "/ping", {}, None)
        return self._refuse(Refused(404, "not found", "only HEAD /ping is served"))

    def _content_length(self) -> int:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise Refused(411, "invalid", "chunked bodies are not supported: send Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            raise Refused(411, "invalid", f"Content-Length {raw!r} is missing or not a number")
        return int(raw)

    def _skip_body(self) -> None:
        # Drained so the next request on this keep-alive connection starts at a request line.
        try:
            _BoundedBody(self.rfile, self._content_length()).read()
        except (Refused, ConnectionError):
            self.close_connection = True

    def _forward(self, method: str, path: str, headers: dict, body) -> None:
        conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port,
                                          timeout=UPSTREAM_TIMEOUT_S)
        try:
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException) as e:
            self.close_connection = True
            return self._refuse(Refused(503, "unavailable",
                                        f"InfluxDB at {self.server.upstream} unreachable: {e}"))
        finally:
            conn.close()
        self.send_response(answer.status, answer.reason)
        for name in RESPONSE_HEADERS:
            if answer.getheader(name):
                self.send_header(name, answer.getheader(name))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _health(self) -> None:
        conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port,
                                          timeout=5)
        try:
            conn.request("GET", "/ping")
            answer = conn.getresponse()
            answer.read()
            version = answer.getheader("X-Influxdb-Version", "")
            ok = answer.status == 204
            why = f"/ping answered {answer.status}"
        except (OSError, http.client.HTTPException) as e:
            ok, version, why = False, "", f"unreachable: {e}"
        finally:
            conn.close()
        doc = {"name": "influxdb", "status": "pass" if ok else "fail", "checks": [],
               "message": "ready for queries and writes" if ok else why, "version": version}
        self._send_json(200 if ok else 503, doc)

    def _refuse(self, e: Refused) -> None:
        self._send_json(e.status, {"code": e.code, "message": e.message})

    def _send_json(self, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        log.info("%s %s", self.client_address[0], format % args)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen: tuple[str, int], upstream: str) -> None:
        url = urlsplit(upstream)
        if url.scheme != "http" or not url.hostname:
            raise ValueError(f"--upstream {upstream!r} is not an http://host:port URL")
        self.upstream = upstream
        self.upstream_host, self.upstream_port = url.hostname, url.port or 80
        super().__init__(listen, ProxyHandler)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.services.v2proxy",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=_host_port, required=True, help="HOST:PORT to serve")
    parser.add_argument("--upstream", required=True, help="the 1.x server, http://HOST:PORT")
    parser.add_argument("--log", type=Path, help="log file (default: stderr)")
    args = parser.parse_args(argv)
    logging.basicConfig(filename=args.log, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = ProxyServer(args.listen, args.upstream)
    except (ValueError, OSError) as e:
        log.error("cannot serve on %s:%s: %s", *args.listen, e)
        print(f"v2proxy: {e}", file=sys.stderr)
        return 2
    # SIGTERM (from `services down`) ends serve_forever through SystemExit, closing the socket.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("serving /api/v2/write on %s:%s for %s", *args.listen, args.upstream)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
