"""Real servers on a free loopback port for the forecast tests (nothing outside this
machine can be reached): a public forecast API answering GETs with a recorded or generated
JSON body, per path; a webhook receiver keeping (or refusing) every POST; an SMTP receiver
keeping every message. `close()` stops their threads. Also the hourly PM2.5 means the
forecast tests store as a station's history."""

from __future__ import annotations

import email
import json
import socketserver
import threading
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from collector.contracts import Point
from forecast.service import sink


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins request threads: nothing is left behind


class Peer:
    """GET `path` → `bodies[path]` (200, JSON), a path not there → 404; POST → `post_status`.
    `requests`: the paths asked for, query strings included; `posts`: the JSON bodies of the
    POSTs answered 2xx."""

    def __init__(self, bodies: dict[str, bytes] | None = None, post_status: int = 204) -> None:
        self.bodies = dict(bodies or {})
        self.post_status = post_status
        self.requests: list[str] = []
        self.posts: list[dict] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                peer.requests.append(self.path)
                body = peer.bodies.get(self.path.split("?", 1)[0])
                self._answer(200, body) if body is not None else \
                    self._answer(404, b'{"error": true, "reason": "no such path"}')

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                peer.requests.append(self.path)
                if 200 <= peer.post_status < 300:
                    peer.posts.append(json.loads(body))
                self._answer(peer.post_status, b'{"error": "refused"}')

            def log_message(self, *args) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins the sessions' threads


class SmtpReceiver:
    """Just enough SMTP to receive mail (no TLS, no login): `messages`, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        me = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 test ESMTP\r\n")
                while line := self.rfile.readline():
                    cmd = line.strip().upper()
                    if cmd == b"DATA":
                        self.wfile.write(b"354 end with .\r\n")
                        got = []
                        for body in iter(self.rfile.readline, b""):
                            if body == b".\r\n":
                                break
                            got.append(body[1:] if body.startswith(b"..") else body)
                        me.messages.append(email.message_from_bytes(  # type: ignore[arg-type]
                            b"".join(got), policy=policy.default))
                        self.wfile.write(b"250 OK\r\n")
                    elif cmd == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:  # EHLO, HELO, MAIL, RCPT, RSET, NOOP
                        self.wfile.write(b"250 OK\r\n")

        self.server = _TcpServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def write_hourly_pm25(env: dict, station: str, t: np.ndarray, v: np.ndarray) -> None:
    """Hourly PM2.5 means (complete hours) at times t, as the aggregate stage stores them."""
    pts = [Point("mean", {"station": station, "kind": "air", "param": "pm2_5",
                          "unit": "ug/m3", "period": "1h"},
                 {"value": round(float(x), 1), "n": 12, "expected": 12, "complete": True},
                 int(tt)) for tt, x in zip(t, v, strict=True)]
    db = sink(env)
    for i in range(0, len(pts), 2000):
        r = db.write(pts[i:i + 2000])
        assert not r.error and not r.rejected, (r.error, r.rejected[:2])
