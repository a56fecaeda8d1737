"""A command or a config change for one station, from the operations room or a laptop.

Published at QoS 1 on `quantrac/v1/<station>/cmd` (or `config`) with the broker's operator
account; the answer is the station's `ack` event with the same id. A station that is offline
gets it when it connects (it keeps a persistent session), unless `exp` has passed by then:
the station refuses it as expired, so a calibration or a reboot asked for during an outage
does not happen days later by surprise.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from quantrac_common.protocol import PREFIX

CONNECT_TIMEOUT_S = 10.0


class CommandError(RuntimeError):
    """The broker could not be reached or refused the operator (names which)."""


@dataclass
class Outcome:
    """What became of one message: `ack` is the station's answer, None when it has not
    answered within the wait (it is offline: the broker keeps the message for it)."""

    id: str
    doc: dict
    ack: dict | None = None
    events: list[dict] = field(default_factory=list)


def message(kind: str, body: dict, expire_in_s: int, now: float | None = None) -> dict:
    """The protocol v1 `cmd` (`body` = {"cmd", "args"}) or `config` (`body` = {"set"})."""
    doc = {"v": 1, "id": "op-" + uuid.uuid4().hex[:10], **body}
    if expire_in_s > 0:
        doc["exp"] = int(now if now is not None else time.time()) + expire_in_s
    return doc


def send(env: dict[str, str], station: str, kind: str, doc: dict, wait_s: float) -> Outcome:
    """Publish `doc` on the station's `kind` topic (cmd | config) and wait up to `wait_s` for
    its ack. CommandError when the broker cannot be reached or refuses the operator."""
    out = Outcome(doc["id"], doc)
    got = threading.Event()
    connected = threading.Event()
    subscribed = threading.Event()
    refused: list[str] = []

    def on_connect(client, userdata, flags, reason, properties=None):
        if reason.is_failure:
            refused.append(str(reason))
        else:
            client.subscribe(f"{PREFIX}/{station}/event", qos=1)
        connected.set()

    def on_subscribe(client, userdata, mid, reasons, properties=None):
        subscribed.set()  # from here no ack can slip past

    def on_message(client, userdata, msg):
        try:
            ev = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(ev, dict) and ev.get("ev") == "ack" and ev.get("id") == out.id:
            out.events.append(ev)
            if out.ack is None:
                out.ack = ev
            got.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"quantrac-op-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                           env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    client.on_connect, client.on_message = on_connect, on_message
    client.on_subscribe = on_subscribe
    where = f"{env['QUANTRAC_MQTT_HOST']}:{env['QUANTRAC_MQTT_PORT']}"
    try:
        client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    except OSError as e:
        raise CommandError(f"broker {where} not reachable: {e}") from None
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT_S):
            raise CommandError(f"broker {where} did not answer the connect")
        if refused:
            raise CommandError(f"broker {where} refused the operator account: {refused[0]}")
        if not subscribed.wait(CONNECT_TIMEOUT_S):
            raise CommandError(f"broker {where} did not confirm the subscription to the "
                               f"station's events")
        info = client.publish(f"{PREFIX}/{station}/{kind}", json.dumps(doc), qos=1)
        info.wait_for_publish(CONNECT_TIMEOUT_S)
        if not info.is_published():
            raise CommandError(f"broker {where} did not take the message")
        got.wait(wait_s)
    finally:
        client.loop_stop()
        client.disconnect()
    return out
