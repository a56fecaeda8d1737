"""A TCP relay on a free loopback port in front of the bench's broker, to cut a station's link
(a broker the station cannot reach) without touching the broker the collector uses."""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpRelay:
    """Relays connections to (host, port) while `up`; `cut()` drops them and refuses new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._copiers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="bench-relay", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up.is_set():
                conn.close()  # unreachable: the station sees its connect fail at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._pairs.append((conn, upstream))
            for a, b in ((conn, upstream), (upstream, conn)):
                t = threading.Thread(target=self._copy, args=(a, b), daemon=True)
                t.start()
                self._copiers.append(t)

    @staticmethod
    def _copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(4096):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # shut down before closing: the copier of the other direction is blocked in
            # recv() on one of these, and a close() from this thread does not wake it
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones until `up.set()`."""
        self.up.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.cut()  # after the accept thread ended: no pair can be added behind the cut
        self.listener.close()
        for t in self._copiers:
            t.join(timeout=5)
