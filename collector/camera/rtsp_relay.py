"""An RTSP relay on a loopback port that logs in to the camera for ffmpeg, so the camera's
password never appears on ffmpeg's command line (`/proc/<pid>/cmdline` is readable by every
local user) or in its environment.

ffmpeg takes an RTSP login only inside the URL, and the URL only as an argument. So ffmpeg gets
`rtsp://127.0.0.1:<port>/<path>` and this relay, in the collector's process, forwards its
requests to the camera, adding the `Authorization` header (Basic or Digest, RFC 2617, as the
camera's 401 challenge asks) to each one. After the PLAY answer the connection carries the
interleaved media (`-rtsp_transport tcp`) and is copied both ways unchanged.

The relay accepts one connection, from a process of the collector's own user (checked in
/proc/net/tcp), and lives for one capture. `rtsps://` cameras are reached over TLS, their
certificate checked.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import selectors
import socket
import ssl
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

MAX_HEAD = 64 << 10  # an RTSP request or answer head; more is not RTSP


class RelayError(OSError):
    pass


class _Stream:
    """A socket read as RTSP messages, with what was read past the last one kept."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def message(self) -> tuple[list[str], bytes] | None:
        """(head lines, body), None at the end of the stream or at interleaved data ('$')."""
        while b"\r\n\r\n" not in self.buf:
            if self.buf.startswith(b"$") or len(self.buf) > MAX_HEAD:
                return None
            if not self._fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("utf-8", "replace").split("\r\n")
        length = next((int(v) for k, _, v in (x.partition(":") for x in lines[1:])
                       if k.strip().lower() == "content-length" and v.strip().isdigit()), 0)
        while len(self.buf) < length:
            if not self._fill():
                return None
        body, self.buf = self.buf[:length], self.buf[length:]
        return lines, body


def _header(lines: list[str], name: str) -> list[str]:
    return [v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
            if k.strip().lower() == name]


def _peer_uid(port: int, local_port: int) -> int | None:
    """The uid owning the loopback connection from `port` to `local_port` (IPv4)."""
    try:
        rows = Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]
    except OSError:
        return None
    for row in rows:
        f = row.split()
        if len(f) > 7 and int(f[1].split(":")[1], 16) == port and \
                int(f[2].split(":")[1], 16) == local_port:
            return int(f[7])
    return None


class RtspRelay:
    """`with RtspRelay(camera_url, user, password, timeout_s) as relay:` run ffmpeg on
    `relay.url`; afterwards `relay.refused_login` says whether the camera refused the login."""

    def __init__(self, camera_url: str, user: str, password: str, timeout_s: float, *,
                 tls: ssl.SSLContext | None = None) -> None:
        p = urlsplit(camera_url)
        if p.scheme not in ("rtsp", "rtsps") or not p.hostname:
            raise RelayError(f"{camera_url!r}: not an rtsp(s) URL")
        self.host, self.port = p.hostname, p.port or (322 if p.scheme == "rtsps" else 554)
        self.tls = (tls or ssl.create_default_context()) if p.scheme == "rtsps" else None
        self.user, self.password, self.timeout_s = user, password, timeout_s
        self.remote = f"{p.scheme}://{p.netloc.rpartition('@')[2]}"
        self._listen = socket.create_server(("127.0.0.1", 0))
        self._listen.settimeout(0.2)
        self.local = f"rtsp://127.0.0.1:{self._listen.getsockname()[1]}"
        self.url = self.local + (p.path or "/") + (f"?{p.query}" if p.query else "")
        self.refused_login = False
        self.error = ""
        self._challenge: dict[str, str] | None = None
        self._nc = 0
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"quantrac-rtsp-relay-{self.host}")

    def __enter__(self) -> RtspRelay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for s in (*self._socks, self._listen):
            with contextlib.suppress(OSError):
                s.close()
        if self._thread.is_alive():
            self._thread.join()

    # -- the one session -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            client = self._accept()
            if client is None:
                return
            camera = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._socks.append(camera)
            if self.tls is not None:
                camera = self.tls.wrap_socket(camera, server_hostname=self.host)
                self._socks.append(camera)
            self._session(_Stream(client), _Stream(camera))
        except ssl.SSLCertVerificationError as e:
            self.error = (f"the camera's certificate does not verify ({e.verify_message}); "
                          "check [camera] ca_file and the host name in its URL")
        except (OSError, ValueError) as e:
            if not self._stop.is_set():
                self.error = f"{type(e).__name__}: {e}"
        finally:
            for s in self._socks:
                with contextlib.suppress(OSError):
                    s.close()

    def _accept(self) -> socket.socket | None:
        """The first connection from a process of our own user (ffmpeg); others are shut."""
        deadline = time.monotonic() + self.timeout_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, peer = self._listen.accept()
            except TimeoutError:
                continue
            if _peer_uid(peer[1], self._listen.getsockname()[1]) == os.getuid():
                self._listen.close()
                conn.settimeout(self.timeout_s)
                self._socks.append(conn)
                return conn
            conn.close()
        return None

    def _session(self, client: _Stream, camera: _Stream) -> None:
        while not self._stop.is_set():
            request = client.message()
            if request is None:
                break
            lines, body = request
            method = lines[0].split(" ", 1)[0].upper()
            answer = self._forward(lines, body, camera)
            if answer is None:
                return
            client.sock.sendall(answer)
            status = answer.split(b" ", 2)[1:2]
            if method == "PLAY" and status and status[0].startswith(b"2"):
                break
        self._copy(client, camera)  # the media, or ffmpeg's next bytes after a '$'

    def _forward(self, lines: list[str], body: bytes, camera: _Stream) -> bytes | None:
        """Send one request with the login; its answer (raw), None when the camera left."""
        method, uri, version = (lines[0].split(" ", 2) + ["", ""])[:3]
        if uri.startswith(self.local):
            uri = self.remote + uri[len(self.local):]
        headers = [x for x in lines[1:] if x.partition(":")[0].strip().lower()
                   != "authorization"]
        for attempt in (1, 2):
            sent_login = self._challenge is not None
            auth = [f"Authorization: {self._authorization(method, uri)}"] if sent_login else []
            head = "\r\n".join([f"{method} {uri} {version}", *headers, *auth]) + "\r\n\r\n"
            camera.sock.sendall(head.encode() + body)
            answer = camera.message()
            if answer is None:
                return None
            a_lines, a_body = answer
            raw = ("\r\n".join(a_lines) + "\r\n\r\n").encode() + a_body
            if a_lines[0].split(" ")[1:2] != ["401"]:
                return raw
            challenge = self._parse(_header(a_lines, "www-authenticate"))
            stale = challenge is not None and challenge.get("stale", "").lower() == "true"
            # as ffmpeg does: log in after the first 401, once more only for a stale nonce
            if challenge is None or attempt == 2 or (sent_login and not stale):
                self.refused_login = sent_login
                if challenge is None:
                    self.error = ("the camera asks for a login other than Basic or Digest: "
                                  f"{_header(a_lines, 'www-authenticate')}")
                return raw
            self._challenge, self._nc = challenge, 0
        return None

    def _copy(self, client: _Stream, camera: _Stream) -> None:
        pairs = {client.sock: camera.sock, camera.sock: client.sock}
        for src, dst in ((client, camera), (camera, client)):
            if src.buf:
                dst.sock.sendall(src.buf)
        with selectors.DefaultSelector() as sel:
            for s in pairs:
                s.setblocking(True)
                sel.register(s, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = src.recv(65536)
                    if not data:
                        return
                    # TLS may hold decrypted bytes the selector cannot see: take them too
                    while isinstance(src, ssl.SSLSocket) and src.pending():
                        data += src.recv(src.pending())
                    pairs[src].sendall(data)

    # -- authentication --------------------------------------------------------------------

    @staticmethod
    def _parse(values: list[str]) -> dict[str, str] | None:
        """The challenge to answer: Digest when the camera offers it, else Basic."""
        for scheme in ("digest", "basic"):
            for v in values:
                name, _, rest = v.partition(" ")
                if name.lower() == scheme:
                    params = urllib.request.parse_keqv_list(urllib.request.parse_http_list(rest))
                    return {"scheme": scheme, **params}
        return None

    def _authorization(self, method: str, uri: str) -> str:
        ch = self._challenge or {}
        if ch.get("scheme") == "basic":
            return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        algorithm = ch.get("algorithm", "MD5")
        hash_name = {"MD5": "md5", "SHA-256": "sha256"}.get(algorithm.upper(), "md5")

        def h(text: str) -> str:
            return hashlib.new(hash_name, text.encode()).hexdigest()

        realm, nonce = ch.get("realm", ""), ch.get("nonce", "")
        ha1, ha2 = h(f"{self.user}:{realm}:{self.password}"), h(f"{method}:{uri}")
        fields = {"username": self.user, "realm": realm, "nonce": nonce, "uri": uri}
        if "auth" in [q.strip() for q in ch.get("qop", "").split(",")]:
            self._nc += 1
            cnonce = secrets.token_hex(8)
            fields["response"] = h(f"{ha1}:{nonce}:{self._nc:08x}:{cnonce}:auth:{ha2}")
            extra = f", qop=auth, nc={self._nc:08x}, cnonce=\"{cnonce}\""
        else:
            fields["response"] = h(f"{ha1}:{nonce}:{ha2}")
            extra = ""
        if "algorithm" in ch:
            extra += f", algorithm={algorithm}"
        if "opaque" in ch:
            extra += f", opaque=\"{ch['opaque']}\""
        return "Digest " + ", ".join(f'{k}="{v}"' for k, v in fields.items()) + extra
