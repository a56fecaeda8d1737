"""A staged firmware rollout from the operations room: a canary first, then stages of the
fleet, each published only once every station of the stage before reported the new version
healthy (its `ota` event `good`; a station already running it counts at once).

Any station of a stage that refuses the bundle, rolls back or stays silent past the stage's
timeout halts the rollout: every station staged so far gets, retained, the wanted version it
ran before (or, when it is unknown, an empty wanted version) and its chunks are cleared. A
station acts only on the wanted version, so one that was offline and reconnects later reads
the version it already runs (its broker session may deliver the halted message first: the
next one, the halt, cancels the download before any chunk arrives, and the chunks are gone).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from fwtools.fwbundle import Bundle, chunks
from fwtools.fwpublish import Operator, fw_topic, stage
from quantrac_common.protocol import PREFIX

FAILED = ("refused", "rolled_back")


class RolloutError(ValueError):
    """A plan that cannot run (unknown canary, bad stages); the message says which."""


@dataclass
class Result:
    version: str
    stages: list[list[str]]
    healthy: list[str] = field(default_factory=list)
    halted: bool = False
    why: str = ""
    staged: list[str] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)  # what each station ran at the start


def parse_stages(text: str) -> list[float]:
    """"10%,50%,100%" -> [0.1, 0.5, 1.0]; increasing, ending at 100 %."""
    out = []
    for part in text.split(","):
        p = part.strip().rstrip("%")
        try:
            v = float(p) / 100
        except ValueError:
            raise RolloutError(f"--stages: {part.strip()!r} is not a percentage") from None
        if not 0 < v <= 1 or (out and v <= out[-1]):
            raise RolloutError(f"--stages: {part.strip()!r} must grow, within 1-100 %")
        out.append(v)
    if not out or out[-1] != 1:
        raise RolloutError("--stages: the last stage must be 100%")
    return out


def plan(stations: list[str], canary: str, stages: list[float]) -> list[list[str]]:
    """The canary alone, then the others by cumulative share of the whole fleet."""
    if canary not in stations:
        raise RolloutError(f"--canary {canary!r} is not one of the stations")
    rest = [s for s in stations if s != canary]
    out, done = [[canary]], 0
    for share in stages:
        upto = min(len(rest), max(done, math.ceil(share * len(stations)) - 1))
        if upto > done:
            out.append(rest[done:upto])
            done = upto
    if done < len(rest):
        out.append(rest[done:])
    return out


class Watch:
    """Every station's `ota` events and retained status, as the operator account reads them."""

    def __init__(self, env: dict[str, str]) -> None:
        self.events: dict[str, list[dict]] = {}
        self.fw: dict[str, str] = {}
        self.online: dict[str, bool] = {}
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                                    env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
        self.client.on_connect = lambda c, *a: c.subscribe(
            [(f"{PREFIX}/+/event", 1), (f"{PREFIX}/+/status", 1)])
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        self.client.loop_start()
        if not ready.wait(10):
            self.close()
            raise RuntimeError("the broker did not take the rollout's subscription")
        time.sleep(0.5)  # the retained statuses arrive right after the SUBACK

    def _on_message(self, client, userdata, msg) -> None:
        try:
            doc = json.loads(msg.payload)
            station = msg.topic.split("/")[2]
        except (ValueError, IndexError):
            return
        with self._lock:
            if msg.topic.endswith("/status") and isinstance(doc, dict):
                self.online[station] = bool(doc.get("online"))
                if doc.get("fw"):
                    self.fw[station] = doc["fw"]
            elif isinstance(doc, dict) and doc.get("ev") == "ota":
                self.events.setdefault(station, []).append(doc)

    def verdict(self, station: str, version: str) -> str | None:
        """"good" (its trial passed: the `ota` event, not a status, which a station on
        trial already sends with the new version), the failure (state: why), or None."""
        with self._lock:
            for e in self.events.get(station, []):
                if e.get("ver") != version:
                    continue
                if e.get("state") == "good":
                    return "good"
                if e.get("state") in FAILED:
                    return f"{e['state']}: {e.get('why', '')}"
        return None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def halt(op: Operator, stations: list[str], keep: dict[str, str], n_chunks: int) -> None:
    """Each station back to the version it ran (`keep`), or no wanted version; chunks cleared."""
    for st in stations:
        ver = keep.get(st)
        op.publish(fw_topic(st), json.dumps({"v": 1, "ver": ver}).encode() if ver else b"")
        for i in range(n_chunks):
            op.publish(f"{fw_topic(st)}/{i}", b"")


def rollout(env: dict[str, str], bundle: Bundle, stations: list[str], canary: str,
            stages: list[float], timeout_s: float = 900.0,
            say: Callable[[str], None] = print) -> Result:
    """Publish `bundle` stage by stage; halt at the first failure or silence."""
    steps = plan(stations, canary, stages)
    result = Result(bundle.version, steps)
    n_chunks = len(chunks(bundle))
    watch = Watch(env)
    try:
        keep = {st: watch.fw[st] for st in stations if st in watch.fw}
        result.before = dict(keep)
        already = {st for st, ver in keep.items() if ver == bundle.version}
        with Operator(env) as op:
            for i, group in enumerate(steps):
                say(f"stage {i} ({'canary' if i == 0 else f'{len(group)} stations'}): "
                    + ", ".join(group))
                stage(op, group, bundle)
                result.staged += group
                deadline = time.monotonic() + timeout_s
                waiting = list(group)
                while waiting and not result.halted:
                    for st in list(waiting):
                        v = "good" if st in already else watch.verdict(st, bundle.version)
                        if v == "good":
                            waiting.remove(st)
                            result.healthy.append(st)
                            say(f"  {st}: {bundle.version} healthy")
                        elif v is not None:
                            result.halted, result.why = True, f"{st}: {v}"
                    if waiting and time.monotonic() > deadline:
                        result.halted = True
                        result.why = (f"{', '.join(waiting)}: not healthy within "
                                      f"{timeout_s:g} s")
                    if waiting and not result.halted:
                        time.sleep(0.2)
                if result.halted:
                    say(f"halted at stage {i}: {result.why}; the staged stations keep "
                        "the version they ran")
                    # a station already healthy on the new version keeps it: told the
                    # version it runs, it does nothing (an older one would read as a
                    # malformed offer and be refused)
                    halt(op, result.staged,
                         {**keep, **dict.fromkeys(result.healthy, bundle.version)}, n_chunks)
                    return result
        say(f"rollout of {bundle.version} complete: {len(result.healthy)} stations healthy")
        return result
    finally:
        watch.close()


def rollback(env: dict[str, str], bundle: Bundle, stations: list[str], timeout_s: float = 900.0,
             wait: bool = True, say: Callable[[str], None] = print) -> Result:
    """Every station's wanted version back to `bundle` (an earlier good version), forced so a
    station running a higher one takes it; then, with `wait`, until each station online now
    reports it `good`. A station offline reads the retained wanted version when it returns.
    `halted` says a station refused it, rolled back or stayed silent past `timeout_s`."""
    result = Result(bundle.version, [list(stations)])
    watch = Watch(env)
    try:
        result.before = {st: watch.fw[st] for st in stations if st in watch.fw}
        with Operator(env) as op:
            stage(op, stations, bundle, force=True)
        result.staged = list(stations)
        waiting = []
        for st in stations:
            if result.before.get(st) == bundle.version:
                result.healthy.append(st)
            elif watch.online.get(st):
                waiting.append(st)
            else:
                say(f"  {st}: offline; takes {bundle.version} when it reconnects")
        deadline = time.monotonic() + timeout_s
        failed = []
        while wait and waiting:
            for st in list(waiting):
                v = watch.verdict(st, bundle.version)
                if v == "good":
                    waiting.remove(st)
                    result.healthy.append(st)
                    say(f"  {st}: {bundle.version} healthy")
                elif v is not None:
                    waiting.remove(st)
                    failed.append(f"{st}: {v}")
            if waiting and time.monotonic() > deadline:
                failed.append(f"{', '.join(waiting)}: not back on {bundle.version} within "
                              f"{timeout_s:g} s")
                break
            if waiting:
                time.sleep(0.2)
        if failed:
            result.halted, result.why = True, "; ".join(failed)
        return result
    finally:
        watch.close()
