"""Putting a signed bundle where a station pulls it: the broker's retained messages, with the
operator account.

For each station: every chunk retained on `quantrac/v1/<station>/fw/<i>` first, then the
retained wanted version on `quantrac/v1/<station>/fw` (fwtools/fwbundle.py `wanted`), so a
station never reads a wanted version whose chunks are not there yet. A station offline meanwhile
reads both when it connects. Halting a rollout publishes the version a station should keep
(`want_version`): the wanted message is what a station acts on, so one that was offline
never applies a halted bundle.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable

import paho.mqtt.client as mqtt

from fwtools.fwbundle import Bundle, chunks, wanted
from quantrac_common.protocol import PREFIX

CONNECT_TIMEOUT_S = 10.0


class PublishError(RuntimeError):
    """The broker could not be reached, refused the operator, or did not acknowledge."""


class Operator:
    """One paho session with the operator account; publish() returns once the broker
    acknowledged (QoS 1)."""

    def __init__(self, env: dict[str, str]) -> None:
        ready = threading.Event()
        refused: list[str] = []

        def on_connect(client, userdata, flags, reason, properties=None):
            if reason.is_failure:
                refused.append(str(reason))
            ready.set()

        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                                    env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
        self.client.on_connect = on_connect
        host, port = env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"])
        try:
            self.client.connect(host, port)
        except OSError as e:
            raise PublishError(f"broker at {host}:{port}: {e}") from None
        self.client.loop_start()
        if not ready.wait(CONNECT_TIMEOUT_S) or refused:
            self.close()
            raise PublishError(f"broker at {host}:{port} refused the operator "
                               f"({refused[0] if refused else 'no answer'})")

    def publish(self, topic: str, payload: bytes, retain: bool = True) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(CONNECT_TIMEOUT_S)
        if not info.is_published():
            raise PublishError(f"{topic}: the broker did not acknowledge")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def __enter__(self) -> Operator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fw_topic(station: str) -> str:
    return f"{PREFIX}/{station}/fw"


def stage(op: Operator, stations: Iterable[str], bundle: Bundle, force: bool = False) -> None:
    """Chunks, then the wanted version, for each station."""
    want = json.dumps(wanted(bundle, force)).encode()
    for st in stations:
        stage_chunks(op, [st], bundle)
        op.publish(fw_topic(st), want)


def stage_chunks(op: Operator, stations: Iterable[str], bundle: Bundle) -> None:
    """The chunks alone (`quantrac fleet publish`): no station fetches a chunk until its
    wanted version names the bundle, so this tells no station to take it."""
    parts = chunks(bundle)
    for st in stations:
        for i, part in enumerate(parts):
            op.publish(f"{fw_topic(st)}/{i}", part)


def want_version(op: Operator, stations: Iterable[str], bundle: Bundle | None) -> None:
    """Point the stations back at `bundle` (the version they should keep: halt, rollback), or
    clear the wanted version (None): either way a bundle staged before is not applied."""
    for st in stations:
        if bundle is None:
            op.publish(fw_topic(st), b"")
        else:
            stage(op, [st], bundle)
