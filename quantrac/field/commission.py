"""Commissioning a station: every sensor read live through its board, ranges checked, the station
logged in to the broker, a test record published, and (when the laptop can reach the broker as
the operator) that record seen arriving; the findings become the pass/fail sheet.

The work on the board is `onboard_commission.py`, sent through the raw REPL; it reports lines
"QT:" + JSON which `parse` turns into findings. `judge` (sheet.py) compares them with what the
registry says the station should be.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from quantrac.field.board import BoardError, BoardLink

ONBOARD = Path(__file__).with_name("onboard_commission.py")
SILENCE_S = 60.0  # longest the board may say nothing (MQTT timeouts, a slow sensor)
DELIVERY_WAIT_S = 15.0

Echo = Callable[[str], None]


@dataclass
class Findings:
    """What the board reported, in the order it did."""

    board: dict = field(default_factory=dict)
    sensors: list[dict] = field(default_factory=list)
    mqtt: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # steps that stopped the run
    notes: list[str] = field(default_factory=list)
    done: bool = False
    console: list[str] = field(default_factory=list)  # everything else the board printed
    delivered: bool | None = None  # the test record seen at the broker; None: not checked
    delivery_note: str = ""

    def take(self, doc: dict) -> None:
        kind = doc.pop("k", "")
        if kind == "board":
            self.board = doc
        elif kind == "sensor":
            self.sensors.append(doc)
        elif kind == "mqtt":
            self.mqtt.append(doc)
        elif kind == "fail":
            self.failures.append(doc)
        elif kind == "note":
            self.notes.append(doc.get("why", ""))
        elif kind == "done":
            self.done = True

    def published_boot(self) -> str | None:
        for step in self.mqtt:
            if step.get("step") == "publish" and step.get("ok"):
                return step.get("boot")
        return None


class _Lines:
    """Bytes from the board → whole lines → findings (and a progress echo)."""

    def __init__(self, findings: Findings, echo: Echo) -> None:
        self.f, self.echo, self.buf = findings, echo, bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            raw, _, rest = bytes(self.buf).partition(b"\n")
            self.buf = bytearray(rest)
            line = raw.decode(errors="replace").rstrip("\r")
            if line.startswith("QT:"):
                try:
                    doc = json.loads(line[3:])
                except json.JSONDecodeError:
                    self.f.console.append(line)
                    continue
                self.echo(progress(doc))
                self.f.take(doc)
            elif line:
                self.f.console.append(line)


def progress(doc: dict) -> str:
    k = doc.get("k", "")
    if k == "sensor":
        vals = ", ".join(f"{p}={v} {u}" for p, u, v in doc.get("values", []))
        state = "ok" if doc.get("ok") else f"NO READING ({doc.get('why')})"
        return f"  sensor {doc.get('id')}: {state} {vals}".rstrip()
    if k == "mqtt":
        state = "ok" if doc.get("ok") else f"FAILED ({doc.get('why')})"
        return f"  mqtt {doc.get('step')}: {state}"
    if k == "fail":
        return f"  {doc.get('step')}: FAILED ({doc.get('why')})"
    if k == "board":
        return f"  board: station {doc.get('station')}, fw {doc.get('fw')}, " \
               f"{doc.get('platform')}, {doc.get('free')} bytes free"
    return f"  {k}: {doc}" if k not in ("done",) else "  board: done"


def onboard_code(params: dict) -> str:
    from collector.services.mosquitto import COMMISSION_SUFFIX

    return (f"PARAMS = {params!r}\nCOMMISSION_SUFFIX = {COMMISSION_SUFFIX!r}\n" +
            ONBOARD.read_text())


class DeliveryWatch:
    """The operator subscribed to the station's event topic before the board publishes."""

    def __init__(self, env: dict, station_id: str) -> None:
        import paho.mqtt.client as mqtt

        self.seen: list[dict] = []
        self.got = threading.Event()
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"commission-{uuid.uuid4().hex[:10]}")
        self.client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                                    env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
        self.topic = f"quantrac/v1/{station_id}/event"
        self.client.on_connect = lambda c, u, f, rc, p: (
            c.subscribe(self.topic, qos=1) if not rc.is_failure else None)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.ready.set()
        self.client.on_message = self._message
        self.client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        self.client.loop_start()
        if not self.ready.wait(10):
            self.close()
            raise OSError(f"the operator could not subscribe to {self.topic}")

    def _message(self, client, userdata, msg) -> None:
        try:
            doc = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(doc, dict) and doc.get("ev") == "commission":
            self.seen.append(doc)
            self.got.set()

    def wait_for(self, boot: str, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for doc in list(self.seen):
                if doc.get("boot") == boot:
                    return doc
            self.got.wait(0.2)
            self.got.clear()
        return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run(port: str, station_id: str, env: dict | None = None, echo: Echo = print,
        sensor_wait_s: float = 8.0, baud: int = 115200) -> Findings:
    """Commission the board on `port`; `env` (services.env) lets the operator confirm delivery."""
    findings = Findings()
    watch = None
    if env and env.get("QUANTRAC_MQTT_OPERATOR_USER"):
        try:
            watch = DeliveryWatch(env, station_id)
        except OSError as e:
            findings.delivery_note = f"operator could not watch the broker: {e}"
    else:
        findings.delivery_note = "no services.env here: delivery not checked"
    try:
        with BoardLink(port, baud=baud) as link:
            lines = _Lines(findings, echo)
            code = onboard_code({"sensor_wait_ms": int(sensor_wait_s * 1000)})
            try:
                link.run(code, timeout_s=SILENCE_S, output=lines.feed)
            except BoardError as e:
                findings.failures.append({"step": "board", "why": str(e)})
            lines.feed(b"\n")
        boot = findings.published_boot()
        if watch is not None and boot:
            doc = watch.wait_for(boot, DELIVERY_WAIT_S)
            findings.delivered = doc is not None
            findings.delivery_note = (f"operator received it on {watch.topic}" if doc else
                                      f"nothing reached the operator on {watch.topic} in "
                                      f"{DELIVERY_WAIT_S:.0f} s (ACL or another station id?)")
    finally:
        if watch is not None:
            watch.close()
    return findings
