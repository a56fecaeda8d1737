"""The firmware process launched by the run contract, and the broker side around it: a paho
subscriber with the collector's credentials, a station's config for the test's broker and the
records one boot of it publishes.
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

import boards
from hil.station import station_password

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

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- a station of the test's broker, and what it publishes -----------------------------------

BOOT = r"boot=([0-9a-f]{8})"  # the boot id the firmware logs at start; its messages carry it


def station_mqtt(env: dict[str, str], station: str) -> dict:
    """The station's MQTT section for the test's broker, with its registry password."""
    return {"host": env["QUANTRAC_MQTT_HOST"], "port": int(env["QUANTRAC_MQTT_PORT"]),
            "user": station, "password": station_password(env, station)}


def station_config(env: dict[str, str], station: str, uarts: dict[str, str],
                   sensors: list[dict], sample_s: int = 2, report_s: int = 10) -> dict:
    """A firmware config of `sensors` on `uarts` (name -> pty path); reconnects after 1-2 s,
    so a slow first connect costs the test little."""
    return {"station": station,
            "mqtt": {**station_mqtt(env, station), "backoff_min_s": 1, "backoff_max_s": 2},
            "uarts": {name: {"path": path} for name, path in uarts.items()},
            "sensors": sensors, "sample_s": sample_s, "report_s": report_s}


def line_sensor(sid: str, spec: dict, address: int, uart: str = "rs485") -> dict:
    """The sensor entry of catalog model `spec` at `address` on a pty line, its parameters
    named `<sid>_<param>` (one line carries many probes of one parameter)."""
    entry = boards.sensor_entry({"id": sid, "model": spec["model"], "uart": uart,
                                 "address": address}, spec)
    entry["turnaround_ms"] = 20  # a pty has no line to turn round
    for ch in entry["ch"]:
        ch["param"] = f"{sid}_{ch['param']}"
    return entry


def boot_records(msgs: list, boot: str) -> list[dict]:
    """The records of the data messages that boot `boot` of the station published."""
    return [r for _t, p, _r in msgs if json.loads(p).get("boot") == boot
            for r in json.loads(p)["r"]]


def wait_records(sub: Subscriber, boot: str, count: int,
                 timeout: float = 60) -> tuple[list, list[dict]]:
    """Waits until boot `boot` has published `count` records (or `timeout` s): every message
    the subscriber holds, and that boot's records."""
    msgs = sub.wait_for(lambda m: len(boot_records(m, boot)) >= count, timeout)
    return msgs, boot_records(msgs, boot)
