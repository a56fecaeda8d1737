"""Helpers the field tests share: a MicroPython-shaped image, esptool read-back, MQTT peers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

WAIT_S = 30.0


def micropython_image(path: Path, size: int = 64 * 1024) -> Path:
    """Bytes shaped like an ESP32 MicroPython release .bin (0xE9 image header, then noise)."""
    body = bytes((i * 131 + 7) % 251 for i in range(size - 4))
    path.write_bytes(bytes([0xE9, 0x03, 0x02, 0x20]) + body)
    return path


def esptool_read_back(port: str, offset: int, size: int, out: Path) -> bytes:
    """What the (mock) chip's flash holds, read with esptool itself."""
    for _ in range(3):  # the pty under a loaded machine can stall a read ("serial noise")
        done = subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp32", "--port",
                               port, "read-flash", hex(offset), str(size), str(out)],
                              capture_output=True, text=True, timeout=120)
        if done.returncode == 0:
            return out.read_bytes()
    raise AssertionError(f"esptool read-flash: {done.stdout}{done.stderr}")


class Peer:
    """A paho client with its network thread running; what it received, and its CONNACK."""

    def __init__(self, host: str, port: int, user: str | None, password: str | None,
                 tls: dict | None = None) -> None:
        import paho.mqtt.client as mqtt

        from collector.services.credentials import RESERVED_MQTT_USERS

        # A station logs in only under its own id; a service under any id of its own.
        station = user if user and user not in RESERVED_MQTT_USERS else None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=station or f"t-{uuid.uuid4().hex[:12]}")
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set(**tls)
        self.connack = threading.Event()
        self.closed = threading.Event()
        self.refused = None
        self.received: list[tuple[str, bytes]] = []
        self.subacks: dict[int, list] = {}
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subacks.__setitem__(mid, codes)
        self.client.on_disconnect = lambda *args: self.closed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        wait_for(lambda: self.connack.is_set() or self.closed.is_set(), "CONNACK")
        if not self.connack.is_set():
            self.close()
            raise ConnectionError(f"{host}:{port} closed the connection before any CONNACK")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.refused = reason_code.is_failure
        self.connack.set()
        if reason_code.is_failure:
            client.disconnect()

    def subscribe(self, topic: str) -> None:
        _, mid = self.client.subscribe(topic, qos=1)
        wait_for(lambda: mid in self.subacks, f"SUBACK for {topic}")

    def publish(self, topic: str, payload: str) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)

    def payloads(self) -> set[bytes]:
        return {p for _, p in self.received}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate, what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
