"""A scripted HTTP peer on a free loopback port: the byte-level stand-in for InfluxDB's write
endpoint when a test needs answers a healthy server never gives (413, 429, 503, 401).

Tests that need a real database use the session's InfluxDB instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, dict[str, str], bytes]


class ScriptedWriteServer:
    """`answer(lines) -> (status, headers, body)` decides each reply; `requests` records
    (query, headers, lines) of every POST and `stored` the lines of every 2xx answer."""

    def __init__(self, answer: Callable[[list[str]], Answer] | None = None) -> None:
        self.answer = answer or (lambda lines: (204, {}, b""))
        self.requests: list[tuple[dict, dict, list[str]]] = []
        self.stored: list[str] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                lines = body.decode("utf-8").splitlines()
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with outer._lock:
                    outer.requests.append((query, dict(self.headers), lines))
                    status, headers, reply = outer.answer(lines)
                    if 200 <= status < 300:
                        outer.stored.extend(lines)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="scripted-influx")
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
