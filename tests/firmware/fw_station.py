"""The firmware process launched by the run contract, and the broker side around it: a paho
subscriber with the collector's credentials and a TCP relay that plays a broker outage
without touching the broker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fw_harness import FIRMWARE, HEAP, MICROPYTHON, mpy_env

# ---- the firmware process -------------------------------------------------------------------

class Firmware:
    """The unix-port firmware launched exactly as the run contract says, logging to a file."""

    def __init__(self, config: dict, workdir: Path, build: Path | None = None,
                 heap: str = HEAP) -> None:
        """build: a `quantrac firmware build` target folder to run instead of the sources."""
        self.dir = workdir
        self.config_path = workdir / "config.json"
        self.log_path = workdir / "firmware.log"
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - as long as the process
        env = mpy_env() if build is None else {**mpy_env(), "MICROPYPATH": str(build)}
        main = (build or FIRMWARE) / "main.py"
        self.proc = subprocess.Popen(
            [str(MICROPYTHON), "-X", heap, str(main), str(self.config_path)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern: str, timeout: float = 30) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log(), re.MULTILINE)
            if m:
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"firmware log has no /{pattern}/ (exit {self.proc.poll()}):\n"
                             + self.log())

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        """Interrupt (Ctrl-C) and wait; SIGKILL if it hangs. The exit code."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        finally:
            self._log.close()
        return self.proc.returncode


# ---- the broker side -------------------------------------------------------------------------

class Subscriber:
    """A paho client collecting every message under `topic` (collector credentials)."""

    def __init__(self, env: dict[str, str], topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"fw-test-{os.getpid()}-{time.monotonic_ns()}")
        self.client.username_pw_set(env["QUANTRAC_MQTT_COLLECTOR_USER"],
                                    env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"])
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError("subscriber did not get its SUBACK")

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[list], bool], timeout: float) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.snapshot()
            if predicate(msgs):
                return msgs
            time.sleep(0.1)
        return self.snapshot()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class TcpRelay:
    """A TCP relay on a free loopback port to the real broker that can be cut and restored,
    to play a broker outage without touching the broker."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        self.target = (host, port)
        self.up = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._pairs: list = []
        self._copiers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-relay", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        import socket

        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up.is_set():
                conn.close()  # the broker is "unreachable": refuse by closing at once
                continue
            upstream = socket.create_connection(self.target)
            self._pairs.append((conn, upstream))
            for a, b in ((conn, upstream), (upstream, conn)):
                t = threading.Thread(target=self._copy, args=(a, b), daemon=True)
                t.start()
                self._copiers.append(t)

    @staticmethod
    def _copy(src, dst) -> None:
        try:
            while data := src.recv(4096):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def cut(self) -> None:
        """Drop every relayed connection and refuse new ones."""
        import socket

        self.up.clear()
        for a, b in self._pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        self._pairs.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.cut()  # after the accept thread ended: no pair can be added behind the cut
        self.listener.close()
        for t in self._copiers:
            t.join(timeout=5)
