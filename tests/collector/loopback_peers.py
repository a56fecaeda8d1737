"""Real servers on free loopback ports for the camera, e-gov and alert-output tests: an FTP server
(pyftpdlib) that can be stopped and started again on its port, an e-government REST endpoint
with an OAuth2 token endpoint that injects 500s, stalls, token expiry and refusals, an IP
camera serving JPEGs behind digest (or basic) authentication, an RTSP camera behind digest
authentication, a webhook receiver, and a recorder that answers anything (a redirect, or the
host a redirect points to), and stand-ins of the Zalo OA and Telegram Bot message APIs with
their documented error answers (expired token, call limit, 401, 429, 403).

Each peer runs its own threads and `close()` stops them all (the tests' leftover check)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import socketserver
import threading
import time
import urllib.request
import warnings
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs


def jpeg(n: int) -> bytes:
    """A small JPEG-framed image (SOI, JFIF header, payload, EOI), different for each n."""
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + f"quantrac test image {n}".encode() + bytes(range(256)) + b"\xff\xd9")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins request threads: nothing is left behind


class _Http:
    def __init__(self, handler: type[BaseHTTPRequestHandler],
                 tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) PEM files: HTTPS."""
        self.server = _Server(("127.0.0.1", 0), handler)
        if tls:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class FtpPeer:
    """`arrivals`: final path (relative to the home) → how many times a whole file appeared
    under it (a STOR to the final name or a RNTO onto it)."""

    def __init__(self, home: Path, user: str = "donre", password: str = "s3cret",
                 stor_delay_s: float = 0.0, perm: str = "elradfmwMT",
                 tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) PEM files: FTPS, TLS required on control and data."""
        self.home, self.user, self.password = Path(home), user, password
        self.tls = tls
        self.tls_data = Counter[str]()  # data connections by protection: "tls" or "clear"
        self.home.mkdir(parents=True, exist_ok=True)
        self.arrivals: Counter[str] = Counter()
        self.uploads: Counter[str] = Counter()  # every whole STOR, temporary names included
        self.stor_delay_s, self.perm = stor_delay_s, perm
        self.rnto_reply_delays: list[float] = []  # hold the next RNTO replies back this long
        self.port = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.start()

    def _rel(self, path: str) -> str:
        return Path(path).relative_to(self.home.resolve()).as_posix()

    def _arrived(self, path: str) -> None:
        with self._lock:
            self.arrivals[self._rel(path)] += 1

    def start(self) -> None:
        with warnings.catch_warnings():  # pyftpdlib on asyncore/asynchat, deprecated in 3.11
            warnings.simplefilter("ignore", DeprecationWarning)
            from pyftpdlib.authorizers import DummyAuthorizer
            from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
            from pyftpdlib.servers import FTPServer
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        peer = self
        auth = DummyAuthorizer()
        auth.add_user(self.user, self.password, str(self.home), perm=self.perm)

        base = TLS_FTPHandler if self.tls else FTPHandler

        class Handler(base):  # type: ignore[valid-type,misc]
            authorizer = auth
            if peer.tls:
                certfile, keyfile = str(peer.tls[0]), str(peer.tls[1])
                tls_control_required = tls_data_required = True
            auth_failed_timeout = 0.1  # answer a wrong password at once (default: 3 s)

            def ftp_STOR(self, file, mode="w"):  # noqa: N802 (pyftpdlib's name)
                time.sleep(peer.stor_delay_s)
                return super().ftp_STOR(file, mode)

            def ftp_RNTO(self, path):  # noqa: N802
                if peer.rnto_reply_delays:  # the client gives up waiting; the rename happens
                    time.sleep(peer.rnto_reply_delays.pop(0))
                super().ftp_RNTO(path)
                if os.path.isfile(path):
                    peer._arrived(path)

            def on_file_received(self, file):
                peer.tls_data["tls" if getattr(self, "_prot", False) else "clear"] += 1
                peer.uploads[peer._rel(file)] += 1
                if not file.endswith(".tmp"):
                    peer._arrived(file)

        self._server = FTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.address[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        self._server.close_all()

    def stop(self) -> None:
        """Down: the port refuses connections, open sessions are cut."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    close = stop

    @property
    def url(self) -> str:
        return f"{'ftps' if self.tls else 'ftp'}://127.0.0.1:{self.port}/incoming"

    def files(self) -> dict[str, str]:
        base = self.home / "incoming"
        return {p.relative_to(base).as_posix(): p.read_text() for p in base.rglob("*.txt")}


class ApiPeer:
    """The province endpoint: POST /token (client credentials, Basic auth) and POST /ingest
    (Bearer token, Idempotency-Key). A repeated key is answered 200 and not stored again.
    `accepted`: (key, document) stored, in order; `repeats`: keys seen again."""

    def __init__(self, client_id: str = "quantrac", client_secret: str = "pw-123",
                 expires_in: int = 3600, tls: tuple[Path, Path] | None = None) -> None:
        self.client_id, self.client_secret, self.expires_in = client_id, client_secret, expires_in
        self.tokens: set[str] = set()
        self.token_requests: list[dict] = []
        self.accepted: list[tuple[str, dict]] = []
        self.repeats: list[str] = []
        self.answers: list[int] = []
        self.script: list[tuple[str, float]] = []  # ("500", 0) or ("stall", seconds): next posts
        self.refuse: dict[str, tuple[int, str]] = {}  # station → (status, reason)
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, doc = (peer._token(self.headers, body) if self.path == "/token"
                               else peer._ingest(self.headers, body))
                data = json.dumps(doc).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *args):
                pass

        self.http = _Http(Handler, tls)
        base = f"{'https' if tls else 'http'}://127.0.0.1:{self.http.port}"
        self.url, self.token_url = f"{base}/ingest", f"{base}/token"

    def _token(self, headers, body: bytes) -> tuple[int, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        auth = headers.get("Authorization", "")
        who = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else ""
        with self._lock:
            self.token_requests.append({"form": form, "basic": who})
            if form.get("grant_type") != "client_credentials" or \
                    who != f"{self.client_id}:{self.client_secret}":
                return 401, {"error": "invalid_client"}
            token = secrets.token_hex(8)
            self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "Bearer",
                     "expires_in": self.expires_in}

    def _ingest(self, headers, body: bytes) -> tuple[int, dict]:
        with self._lock:
            step = self.script.pop(0) if self.script else None
        if step and step[0] == "stall":
            time.sleep(step[1])  # the client times out; the request is still processed
        auth = headers.get("Authorization", "")
        with self._lock:
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                self.answers.append(401)
                return 401, {"error": "invalid_token", "message": "token expired"}
            if step and step[0] == "500":
                self.answers.append(500)
                return 500, {"message": "database busy"}
            doc = json.loads(body)
            key = headers.get("Idempotency-Key", "")
            if doc.get("station") in self.refuse:
                status, reason = self.refuse[doc["station"]]
                self.answers.append(status)
                return status, {"message": reason}
            if key in {k for k, _ in self.accepted}:
                self.repeats.append(key)
            else:
                self.accepted.append((key, doc))
            self.answers.append(200)
            return 200, {"ok": True}

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def accepted_keys(self) -> list[str]:
        with self._lock:
            return [k for k, _ in self.accepted]

    def close(self) -> None:
        self.http.close()


class CameraPeer:
    """GET /snapshot → a new JPEG each time, behind digest (RFC 2617, MD5, qop=auth) or basic
    authentication; `served` counts the images handed out."""

    def __init__(self, user: str = "admin", password: str = "cam-pw", auth: str = "digest",
                 realm: str = "IP Camera", tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) PEM files: HTTPS."""
        self.user, self.password, self.auth, self.realm = user, password, auth, realm
        self.images: list[bytes] = []
        self.refused = 0
        self.body_override: bytes | None = None
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if not peer._allowed(self.headers.get("Authorization", ""), "GET", self.path):
                    peer.refused += 1
                    self.send_response(401)
                    challenge = (f'Digest realm="{peer.realm}", nonce="{secrets.token_hex(8)}", '
                                 'qop="auth", algorithm=MD5' if peer.auth == "digest"
                                 else f'Basic realm="{peer.realm}"')
                    self.send_header("WWW-Authenticate", challenge)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = peer.body_override or jpeg(len(peer.images) + 1)
                peer.images.append(data)
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.http = _Http(Handler, tls)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.http.port}/snapshot"

    def _allowed(self, header: str, method: str, uri: str) -> bool:
        if self.auth == "basic":
            want = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return header == f"Basic {want}"
        if not header.startswith("Digest "):
            return False
        f = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[7:]))

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{self.user}:{self.realm}:{self.password}")
        ha2 = md5(f"{method}:{f.get('uri', '')}")
        want = md5(f"{ha1}:{f.get('nonce')}:{f.get('nc')}:{f.get('cnonce')}:{f.get('qop')}:{ha2}")
        return f.get("username") == self.user and f.get("uri") == uri and \
            f.get("response") == want

    def close(self) -> None:
        self.http.close()


class Webhook:
    """POSTs received, as parsed JSON."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                peer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.http = _Http(Handler)
        self.url = f"http://127.0.0.1:{self.http.port}/alerts"

    def close(self) -> None:
        self.http.close()


class HttpRecorder:
    """Any HTTP request, recorded (method, path, headers, body) and answered `status` with
    `headers`: a receiver that redirects (302 + Location), or the host a redirect names."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.status, self.headers = status, dict(headers or {})
        self.requests: list[dict] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                peer.requests.append({"method": self.command, "path": self.path,
                                      "headers": dict(self.headers), "body": body})
                data = b'{"ok": true}'
                self.send_response(peer.status)
                for k, v in peer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_HEAD = _any  # noqa: N815

            def log_message(self, *args):
                pass

        self.http = _Http(Handler)
        self.url = f"http://127.0.0.1:{self.http.port}"

    def close(self) -> None:
        self.http.close()


class RtspCameraPeer:
    """An IP camera's RTSP server (RFC 2326, TCP interleaved): OPTIONS, DESCRIBE, SETUP, PLAY,
    TEARDOWN, all but OPTIONS behind digest authentication (no qop, as cameras do); after PLAY
    one JPEG as an interleaved RTP packet on channel 0. `frames`: the JPEGs sent; `requests`:
    (method, uri, authorised); `refused`: requests answered 401."""

    def __init__(self, user: str = "admin", password: str = "cam-pw",
                 realm: str = "IP Camera", tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) PEM files: rtsps://, TLS from the first byte."""
        self.user, self.password, self.realm = user, password, realm
        self.frames: list[bytes] = []
        self.handshakes: list[str] = []
        self.requests: list[tuple[str, str, bool]] = []
        self.refused = 0
        peer = self

        context = None
        if tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))

        class Handler(socketserver.StreamRequestHandler):
            def setup(self):
                self.tls_ok = True
                if context is not None:
                    try:
                        self.request = context.wrap_socket(self.request, server_side=True)
                        peer.handshakes.append("ok")
                    except OSError as e:  # ssl.SSLError too
                        self.tls_ok = False
                        peer.handshakes.append(f"failed: {e}")
                super().setup()

            def handle(self):
                if not self.tls_ok:
                    return
                nonce = secrets.token_hex(8)
                while True:
                    line = self.rfile.readline().decode()
                    if not line:
                        return
                    method, uri, _ = line.split(" ", 2)
                    head = {}
                    while (h := self.rfile.readline().decode().strip()):
                        k, _, v = h.partition(":")
                        head[k.strip().lower()] = v.strip()
                    self.rfile.read(int(head.get("content-length", 0)))
                    ok = method == "OPTIONS" or peer._allowed(
                        head.get("authorization", ""), method, uri, nonce)
                    peer.requests.append((method, uri, ok))
                    if not ok:
                        peer.refused += 1
                        self.answer(head, "401 Unauthorized", [
                            f'WWW-Authenticate: Digest realm="{peer.realm}", nonce="{nonce}"'])
                        continue
                    if not self.serve(method, head):
                        return

            def answer(self, head, status, lines=(), body=b""):
                text = "".join(f"{x}\r\n" for x in (f"RTSP/1.0 {status}",
                                                    f"CSeq: {head.get('cseq', '0')}", *lines,
                                                    f"Content-Length: {len(body)}"))
                self.wfile.write(text.encode() + b"\r\n" + body)

            def serve(self, method, head) -> bool:
                base = f"{peer.url}/"
                if method == "OPTIONS":
                    self.answer(head, "200 OK", ["Public: DESCRIBE, SETUP, PLAY, TEARDOWN"])
                elif method == "DESCRIBE":
                    sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n"
                           b"m=video 0 RTP/AVP 26\r\na=control:trackID=1\r\n")
                    self.answer(head, "200 OK", [f"Content-Base: {base}",
                                                 "Content-Type: application/sdp"], sdp)
                elif method == "SETUP":
                    self.answer(head, "200 OK", ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1",
                                                 "Session: 5e55;timeout=60"])
                elif method == "PLAY":
                    self.answer(head, "200 OK", ["Session: 5e55"])
                    frame = jpeg(100 + len(peer.frames))
                    peer.frames.append(frame)
                    rtp = bytes([0x80, 26, 0, 1]) + bytes(8) + frame
                    self.wfile.write(b"$\x00" + len(rtp).to_bytes(2, "big") + rtp)
                else:  # TEARDOWN
                    self.answer(head, "200 OK")
                    return False
                return True

        self.server = _TcpServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"{'rtsps' if tls else 'rtsp'}://127.0.0.1:{self.port}/stream1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _allowed(self, header: str, method: str, uri: str, nonce: str) -> bool:
        if not header.startswith("Digest "):
            return False
        f = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[7:]))

        def md5(s: str) -> str:
            return hashlib.md5(s.encode()).hexdigest()

        ha1 = md5(f"{self.user}:{self.realm}:{self.password}")
        want = md5(f"{ha1}:{nonce}:{md5(f'{method}:{uri}')}")
        return (f.get("username"), f.get("nonce"), f.get("uri"), f.get("response")) == \
            (self.user, nonce, uri, want)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = False  # server_close() joins the connection threads
    allow_reuse_address = True


class _ChatPeer:
    """A chat service's message API on loopback: `messages` (recipient, text) delivered;
    `script` the next answers to give instead of delivering (consumed in order); `token` the
    only one accepted (changed by a test to make the current one stale); `tokens` every
    token presented, in order."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.messages: list[tuple[str, str]] = []
        self.script: list[str] = []
        self.tokens: list[str] = []
        self._lock = threading.Lock()
        self.http = _Http(self._handler())
        self.url = f"http://127.0.0.1:{self.http.port}"

    def to(self, recipient: str) -> list[str]:
        with self._lock:
            return [text for r, text in self.messages if r == recipient]

    def _next(self) -> str | None:
        with self._lock:
            return self.script.pop(0) if self.script else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, doc, headers = peer.answer(self.path, self.headers, body)
                raw = json.dumps(doc).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        return Handler

    def answer(self, path, headers, body) -> tuple[int, dict, dict]:
        raise NotImplementedError

    def close(self) -> None:
        self.http.close()


class ZaloPeer(_ChatPeer):
    """The Zalo OA message API (POST /v3.0/oa/message/cs, `access_token` header): HTTP 200
    with Zalo's envelope, `error` 0 when sent; script entries: "expired" (-216, the access
    token invalid or expired), "rate" (-32, the OA reached its call limit), "not_follower"
    (-213), "echo" (-201 quoting the token back), "500"."""

    def answer(self, path, headers, body):
        token = headers.get("access_token", "")
        with self._lock:
            self.tokens.append(token)
        if path != "/v3.0/oa/message/cs":
            return 404, {"error": 404, "message": "empty or invalid API"}, {}
        step = self._next()
        if step == "500":
            return 500, {}, {}
        if step == "expired" or token != self.token:
            return 200, {"error": -216, "message": "Access token is invalid"}, {}
        if step == "rate":
            return 200, {"error": -32, "message": "Your OA reached limit call api"}, {}
        if step == "not_follower":
            return 200, {"error": -213, "message": "User has not followed OA"}, {}
        if step == "echo":  # an answer quoting the token back (what no log may show)
            return 200, {"error": -201, "message": f"invalid parameter near {token}"}, {}
        user = body["recipient"]["user_id"]
        with self._lock:
            self.messages.append((user, body["message"]["text"]))
        return 200, {"error": 0, "message": "Success",
                     "data": {"message_id": secrets.token_hex(8), "user_id": user}}, {}


class TelegramPeer(_ChatPeer):
    """The Telegram Bot API's sendMessage (POST /bot<token>/sendMessage): `ok` true when
    sent; script entries: "unauthorized" (401), "rate" (429 with parameters.retry_after
    `retry_after`), "blocked" (403 bot was blocked by the user), "500"."""

    retry_after = 1

    def answer(self, path, headers, body):
        token = path.removeprefix("/bot").rpartition("/")[0]
        with self._lock:
            self.tokens.append(token)
        if not path.startswith("/bot") or ":" not in token:  # what the real API does
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, {}
        step = self._next()
        if step == "500":
            return 500, {"ok": False, "error_code": 500, "description": "Internal"}, {}
        if step == "unauthorized" or token != self.token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, {}
        if not path.endswith("/sendMessage"):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, {}
        if step == "rate":
            return 429, {"ok": False, "error_code": 429,
                         "description": f"Too Many Requests: retry after {self.retry_after}",
                         "parameters": {"retry_after": self.retry_after}}, {}
        if step == "blocked":
            return 403, {"ok": False, "error_code": 403,
                         "description": "Forbidden: bot was blocked by the user"}, {}
        chat = str(body["chat_id"])
        with self._lock:
            self.messages.append((chat, body["text"]))
        return 200, {"ok": True, "result": {"message_id": len(self.messages),
                                            "chat": {"id": chat}, "text": body["text"]}}, {}
