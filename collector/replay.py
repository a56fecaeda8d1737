"""Replay dead letters after a fix (a registry that lacked a parameter, a dropped shard with a
field-type conflict, a validator bug), and mark each replayed entry in the sidecar file.

- A refused message is re-published to its original topic at QoS 1 by the broker's `replay`
  account (`QUANTRAC_MQTT_REPLAY_USER`: it may publish station data, status and event, and
  nothing else; a station's own login works only under the station's own client id, which
  belongs to the board), and goes through the running collector like any other message: if it
  is still wrong, it comes back as a new dead letter with the new reason.
- A reading the database refused is re-ingested: written straight to InfluxDB with the
  collector's write user.

An entry counts as replayed once the broker acknowledged the publish or the database took the
reading; anything else is reported and stays pending. An operator's refused `answer` is not
replayed (the replay account may not publish it: the broker would acknowledge and drop it).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from collector.contracts import Point, Reading, topic_parts
from collector.dead_letters import mark_replayed
from quantrac_common.protocol import STATION_WRITES

READING_FIELDS = {f.name for f in dataclasses.fields(Reading)}


def payload_of(entry: dict) -> bytes | None:
    if "payload" in entry:
        return str(entry["payload"]).encode("utf-8")
    if "payload_b64" in entry:
        return base64.b64decode(entry["payload_b64"])
    return None


def replay(path: Path, env: dict[str, str], entries: list[dict],
           timeout_s: float = 30.0) -> list[dict]:
    """Replay `entries` (as `dead_letters.read` returns them); one result per entry:
    {"id", "how": "mqtt" | "ingest" | "-", "ok": bool, "result": text}."""
    results: list[dict] = []
    messages: dict[str, list[tuple[dict, bytes]]] = {}
    readings: list[dict] = []
    for e in entries:
        payload = payload_of(e)
        parts = topic_parts(str(e.get("topic", "")))
        if "reading" in e or "point" in e:
            readings.append(e)
        elif payload is None:
            results.append(_result(e, "-", False, "nothing to replay (no payload or reading)"
                                   if "payload_sha256" not in e else "nothing to replay: "
                                   "only the sha256 and first bytes of this oversized payload "
                                   "were kept"))
        elif parts is None:
            results.append(_result(e, "mqtt", False,
                                   f"topic {e.get('topic')!r} is not a station topic"))
        elif parts[1] not in STATION_WRITES:
            # the broker would take the publish (PUBACK) and drop it: the replay account may
            # not publish there, and an operator's answer must come from the operator anyway
            results.append(_result(e, "mqtt", False, "an operator's answer is not replayed: "
                                   "send it again if it still applies (`quantrac alerts ack|"
                                   "silence|unsilence`), then discard this entry"))
        else:
            messages.setdefault(parts[0], []).append((e, payload))
    known = _stations(env) if messages else set()
    for station in [st for st in messages if st not in known]:
        results += [_result(e, "mqtt", False, f"no broker account for station {station!r} (not "
                                              "in the registry, or `quantrac services up` not "
                                              "rerun)") for e, _ in messages.pop(station)]
    if messages:
        results.extend(_publish(env, [it for items in messages.values() for it in items],
                                timeout_s))
    if readings:
        results.extend(_ingest(env, readings))
    now = time.time()
    mark_replayed(path, [{"id": r["id"], "digest": r["digest"], "time": now, "how": r["how"],
                          "result": r["result"]} for r in results if r["ok"]])
    return sorted(results, key=lambda r: r["id"])


def _result(e: dict, how: str, ok: bool, text: str) -> dict:
    return {"id": e["id"], "digest": e["digest"], "how": how, "ok": ok, "result": text}


def _stations(env: dict[str, str]) -> set[str]:
    """The stations the broker has accounts for (only their ids: replay never logs in as one)."""
    try:
        return set(json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text()))
    except (KeyError, OSError, ValueError, TypeError):
        return set()


def _publish(env: dict[str, str], items: list[tuple[dict, bytes]],
             timeout_s: float) -> list[dict]:
    user, password = env.get("QUANTRAC_MQTT_REPLAY_USER"), env.get("QUANTRAC_MQTT_REPLAY_PASSWORD")
    if not user or not password:
        return [_result(e, "mqtt", False, "services.env has no replay account (run `quantrac "
                                          "services up` to add it)") for e, _ in items]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"{user}-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(user, password)
    try:
        client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    except (OSError, KeyError, ValueError) as e:
        return [_result(it[0], "mqtt", False, f"broker unreachable: {e}") for it in items]
    client.loop_start()
    out = []
    try:
        sent = [(e, client.publish(e["topic"], payload, qos=1)) for e, payload in items]
        deadline = time.monotonic() + timeout_s
        for e, info in sent:
            try:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as err:
                out.append(_result(e, "mqtt", False, f"not published: {err}"))
                continue
            ok = info.is_published()
            out.append(_result(e, "mqtt", ok, f"re-published to {e['topic']}" if ok else
                               f"the broker did not acknowledge within {timeout_s:.0f} s"))
    finally:
        client.disconnect()
        client.loop_stop()
    return out


def _ingest(env: dict[str, str], entries: list[dict]) -> list[dict]:
    from collector.sinks.influxdb.plugin import InfluxSink

    out, good, readings = [], [], []
    for e in entries:
        try:
            if "point" in e:
                readings.append(Point(**e["point"]))
            else:
                readings.append(Reading(**{k: v for k, v in e["reading"].items()
                                           if k in READING_FIELDS}))
            good.append(e)
        except (TypeError, AttributeError) as err:
            out.append(_result(e, "ingest", False, f"reading unreadable: {err}"))
    if not readings:
        return out
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        result = sink.write(readings)
    finally:
        sink.close()
    refused = dict(result.rejected)
    for i, e in enumerate(good):
        if i in result.accepted:
            out.append(_result(e, "ingest", True, "written to the database"))
        elif i in refused:
            out.append(_result(e, "ingest", False, f"refused again: {refused[i]}"))
        else:
            out.append(_result(e, "ingest", False, f"database unavailable: {result.error}"))
    return out
