"""The firmware process launched by the run contract, and the broker side around it: a paho
subscriber with the collector's credentials and a TCP relay that plays a broker outage
without touching the broker.
"""

from __future__ import annotations

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
