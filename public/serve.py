"""`quantrac public serve`: the app on uvicorn, reading the run folder's services.env."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import uvicorn

from public.app import build
from public.store import Store


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {text!r}: give HOST:PORT, e.g. 127.0.0.1:8021")
    return host.strip("[]"), int(port)


def server(env: dict[str, str], run_dir: Path | None, host: str, port: int,
           report_s: int | None = None) -> uvicorn.Server:
    app = build(Store(env, run_dir, report_s=report_s))
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off", server_header=False)
    return uvicorn.Server(config)


class Background:
    """The server on a thread of its own (the demo, the tests): `.start()` returns once it
    listens, `.url` is its address, `.stop()` ends it."""

    def __init__(self, env: dict[str, str], run_dir: Path | None, host: str = "127.0.0.1",
                 port: int = 0, report_s: int | None = None):
        # bound here, so a taken port is an OSError for the caller, not a thread's exit
        self.sock = socket.create_server((host, port))
        self.srv = server(env, run_dir, host, port, report_s)
        self.thread = threading.Thread(target=self.srv.run, kwargs={"sockets": [self.sock]},
                                       name="public-server", daemon=True)
        bound_host, bound_port = self.sock.getsockname()[:2]
        self.url = f"http://{bound_host}:{bound_port}"

    def start(self, timeout: float = 10.0) -> Background:
        import time
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.srv.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the public server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.srv.should_exit = True
        if self.thread.is_alive():
            self.thread.join(10)
        self.sock.close()
