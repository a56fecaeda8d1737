"""The over-the-air part of a scenario file: `firmware` (what the stations run and which
bundles exist) and `ota` (what the operations room does, step by step), as data.

    firmware:
      installed: 1.0.0                  # slot a of every station at the start
      bundles: {1.1.0: good, 1.2.0: raises-at-boot, 1.1.1: tampered}
    ota:
      - {at: 10m, publish: 1.1.0, stations: [pq-tap-04]}
      - {rollout: 1.2.0, id: bad, canary: pq-air-11, stages: "50%,100%", timeout: 30m}
      - {offline: pq-air-16}
      - {wait: 20m}
      - {online: pq-air-16}

Steps run one after the other: each starts at its `at` (station time from the start) or, with
no `at`, as soon as the step before it is done. Errors name the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fwtools import fwbundle, fwrollout
from hil.ota_kit import KINDS

ACTIONS = ("publish", "rollout", "offline", "online", "wait")
STEP_KEYS = {
    "publish": {"stations", "force", "timeout"},
    "rollout": {"id", "stations", "canary", "stages", "timeout"},
    "offline": set(),
    "online": set(),
    "wait": set(),
}
PUBLISH_TIMEOUT = "30m"  # station time a publish step waits for every station's outcome


@dataclass(frozen=True)
class Step:
    action: str                   # one of ACTIONS
    at: float | None              # absolute station time; None: when the step before is done
    version: str = ""             # publish, rollout
    stations: tuple[str, ...] = ()  # publish, rollout; offline/online: the one station
    force: bool = False           # publish: a lower version, deliberately
    id: str = ""                  # rollout: what a `rollout` check names
    canary: str = ""
    stages: tuple[float, ...] = ()
    timeout_s: float = 0.0        # station seconds: a rollout stage's, a publish step's wait
    wait_s: float = 0.0

    def describe(self) -> str:
        if self.action == "publish":
            return (f"publish {self.version}{' (forced)' if self.force else ''} to "
                    + ", ".join(self.stations))
        if self.action == "rollout":
            return (f"rollout {self.id} of {self.version}, canary {self.canary}, stages "
                    + ",".join(f"{s:.0%}" for s in self.stages))
        if self.action == "wait":
            return f"wait {self.wait_s:g} s"
        return f"{self.action} {self.stations[0]}"


@dataclass(frozen=True)
class Firmware:
    installed: str
    bundles: dict[str, str]       # version -> kind
    steps: tuple[Step, ...]

    @property
    def rollout_ids(self) -> set[str]:
        return {s.id for s in self.steps if s.action == "rollout"}


def _version(v: Any, where: str, fail) -> str:
    v = str(v)
    try:
        fwbundle.version_tuple(v)
    except fwbundle.BundleError as e:
        fail(where, str(e))
    return v


def parse(firmware: Any, steps: Any, station_ids: list[str], start: float, end: float,
          where: str, duration, fail) -> Firmware:
    """`duration(value, where)` and `fail(where, msg)` are hil/scenario.py's."""
    w = f"{where}: firmware"
    if not isinstance(firmware, dict) or set(firmware) - {"installed", "bundles"}:
        fail(w, "must be {installed: VERSION, bundles: {VERSION: KIND}}")
    installed = _version(firmware.get("installed"), f"{w}.installed", fail)
    bundles = firmware.get("bundles") or {}
    if not isinstance(bundles, dict) or not bundles:
        fail(f"{w}.bundles", "must map each version a step publishes to its kind")
    kinds: dict[str, str] = {}
    for ver, kind in bundles.items():
        v = _version(ver, f"{w}.bundles", fail)
        if kind not in KINDS:
            fail(f"{w}.bundles.{v}", f"{kind!r} is not one of {', '.join(KINDS)}")
        if v == installed:
            fail(f"{w}.bundles.{v}", "is the installed version")
        kinds[v] = kind
    if not isinstance(steps, list) or not steps:
        fail(f"{where}: ota", "a scenario with firmware needs a list of ota steps")
    out: list[Step] = []
    ids: set[str] = set()
    for i, entry in enumerate(steps):
        ws = f"{where}: ota[{i}]"
        if not isinstance(entry, dict):
            fail(ws, "must be a mapping")
        actions = [a for a in ACTIONS if a in entry]
        if len(actions) != 1:
            fail(ws, f"names exactly one of {', '.join(ACTIONS)}")
        action = actions[0]
        for key in entry:
            if key not in {action, "at"} | STEP_KEYS[action]:
                fail(f"{ws}.{key}", f"unknown key for a {action} step (known: at, "
                     + ", ".join(sorted(STEP_KEYS[action])) + ")")
        at = None
        if "at" in entry:
            at = start + duration(entry["at"], f"{ws}.at")
            if at > end:
                fail(f"{ws}.at", "after the scenario ends")
        value = entry[action]
        if action in ("offline", "online"):
            if value not in station_ids:
                fail(f"{ws}.{action}", f"{value!r} is not one of the scenario's stations")
            out.append(Step(action, at, stations=(value,)))
            continue
        if action == "wait":
            out.append(Step(action, at, wait_s=duration(value, f"{ws}.wait")))
            continue
        ver = _version(value, f"{ws}.{action}", fail)
        if ver not in kinds:
            fail(f"{ws}.{action}", f"{ver} is not one of firmware.bundles")
        stations = entry.get("stations", station_ids)
        if not isinstance(stations, list) or not stations or any(
                s not in station_ids for s in stations):
            fail(f"{ws}.stations", f"{stations!r} must list some of the scenario's stations")
        timeout = duration(entry.get("timeout", PUBLISH_TIMEOUT), f"{ws}.timeout")
        if action == "publish":
            force = entry.get("force", False)
            if not isinstance(force, bool):
                fail(f"{ws}.force", "must be true or false")
            out.append(Step(action, at, ver, tuple(stations), force=force, timeout_s=timeout))
            continue
        rid = entry.get("id", ver)
        if not isinstance(rid, str) or rid in ids:
            fail(f"{ws}.id", f"{rid!r}: a rollout needs an id of its own")
        ids.add(rid)
        if "timeout" not in entry:
            fail(f"{ws}.timeout", "a rollout needs its stage timeout (station time)")
        try:
            stages = fwrollout.parse_stages(str(entry.get("stages", "")))
            fwrollout.plan(list(stations), str(entry.get("canary")), stages)
        except fwrollout.RolloutError as e:
            fail(ws, str(e))
        out.append(Step(action, at, ver, tuple(stations), id=rid,
                        canary=str(entry["canary"]), stages=tuple(stages), timeout_s=timeout))
    return Firmware(installed, kinds, tuple(out))


STATES = ("download", "refused", "staged", "good", "rolled_back")  # station/ota.py's events


def check_spec(kind: str, spec: dict, where: str, station_ids: list[str], fail) -> None:
    """The keys of an over-the-air check (hil/ota_checks.py judges them)."""
    import re

    if "why" in spec:
        try:
            re.compile(str(spec["why"]))
        except re.error as e:
            fail(f"{where}.why", f"not a regular expression ({e})")
    for key in ("ver", "runs", "never_ran"):
        if key in spec:
            spec[key] = _version(spec[key], f"{where}.{key}", fail)
    if kind == "ota" and "state" in spec and spec["state"] not in STATES:
        fail(f"{where}.state", f"{spec['state']!r} is not one of {', '.join(STATES)}")
    if kind == "firmware":
        if len([k for k in ("runs", "never_ran", "slot") if k in spec]) == 0:
            fail(where, "names runs, never_ran or slot")
        if "slot" in spec and spec["slot"] not in ("a", "b"):
            fail(f"{where}.slot", f"{spec['slot']!r} is not a or b")
    if kind == "rollout":
        if spec.get("outcome") not in ("halted", "complete"):
            fail(f"{where}.outcome", "must be halted or complete")
        for key in ("staged", "healthy"):
            if key in spec and (not isinstance(spec[key], list)
                                or any(s not in station_ids for s in spec[key])):
                fail(f"{where}.{key}", f"{spec[key]!r} must list some of the scenario's "
                     "stations")
