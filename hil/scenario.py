"""Scenario files: stations, faults with their timing, commands and expected outcomes, as data.

A scenario is one YAML file in hil/scenarios/ (layout in hil/README.md). Times are station
time (hil.fastclock): `start` is an ISO 8601 instant, every other time is a duration from it,
written `90`, `90s`, `15m`, `2h30m` or `400ms`. Every error names the file and the key, so a
typo stops the run before any station starts.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boards
from hil import faults, noise, ota_scenario
from hil.fastclock import ClockError, check_speed

HERE = Path(__file__).resolve().parent / "scenarios"
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,47}$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
TOP_KEYS = {"name", "about", "start", "duration", "speed", "sample_s", "report_s", "seed",
            "registry", "stations", "faults", "commands", "checks", "department", "firmware",
            "ota"}
# duration keys of a fault entry -> the Fault field they fill
FAULT_DURATIONS = {"delay": "delay_s", "every": "every_s", "width": "width_s", "ramp": "ramp_s"}
COMMON_CHECK_KEYS = {"what", "station", "between", "min", "max"}
CHECK_KEYS: dict[str, set[str]] = {
    "readings": {"param", "params", "status", "qc", "qc_bit", "no_qc_bit", "above", "below",
                 "share"},
    "mean": {"param", "period", "complete", "above", "below"},
    "points": {"measurement", "tags", "field", "above", "below", "equals"},
    "alert": {"rule", "event", "state"},
    "retained_alert": {"rule", "state"},
    "ack": {"cmd", "ok"},
    "log": {"pattern"},
    # over-the-air updates (hil/ota_checks.py): only in a scenario with `firmware`
    "ota": {"state", "ver", "why"},
    "firmware": {"runs", "never_ran", "slot"},
    "restarts": set(),
    "rollout": {"id", "outcome", "staged", "healthy", "why"},
}
OTA_CHECKS = {"ota", "firmware", "restarts", "rollout"}


class ScenarioError(ValueError):
    """A scenario file that cannot be run as written; the message names file and key."""


@dataclass(frozen=True)
class FaultSpec:
    station: str
    sensor: str
    fault: faults.Fault  # absolute station times


@dataclass(frozen=True)
class Command:
    station: str
    at: float  # absolute station time
    cmd: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    what: str
    kind: str  # one of CHECK_KEYS
    station: str
    spec: dict  # the entry's other keys; `between` as absolute station times


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    about: str
    start: float  # station epoch seconds
    duration_s: float
    speed: float
    sample_s: int
    report_s: int
    seed: int
    stations: tuple[boards.Station, ...]
    faults: tuple[FaultSpec, ...]
    commands: tuple[Command, ...]
    checks: tuple[Check, ...]
    registry: str = "phu-quoc"  # the network under boards/registry its stations come from
    # the department's decisions the scenario's collector reads (its regulations.json: a
    # noise regulation's clock hours, a station's noise regime), as a department enters them
    department: dict = field(default_factory=dict)
    # over-the-air updates: the stations flashed for OTA, the operations room's steps
    firmware: ota_scenario.Firmware | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    @property
    def station_ids(self) -> list[str]:
        return [s.id for s in self.stations]

    def real_s(self) -> float:
        return self.duration_s / self.speed


def duration(value: Any, where: str) -> float:
    """Seconds from 90, 1.5, "90s", "15m", "2h30m" or "400ms"."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ScenarioError(f"{where}: {value!r} must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
            return sum(float(n) * scale[u] for n, u in parts)
    raise ScenarioError(f"{where}: {value!r} is not a duration (90, 90s, 15m, 2h30m, 400ms)")


def instant(value: Any, where: str) -> float:
    """Epoch seconds from an ISO 8601 time with an offset (YAML may hand us a datetime)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ScenarioError(f"{where}: {value!r} is not an ISO 8601 time") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ScenarioError(f"{where}: {value!r} needs a date, a time and an offset, "
                            "e.g. 2025-06-02T05:00:00+07:00")
    return value.timestamp()


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise ScenarioError(f"{where}: {msg}")


def _fail(where: str, msg: str) -> None:
    raise ScenarioError(f"{where}: {msg}")


def _int(doc: dict, key: str, default: int, lo: int, hi: int, where: str) -> int:
    v = doc.get(key, default)
    _need(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, f"{where}.{key}",
          f"{v!r} is not a whole number in {lo}..{hi}")
    return v


def _stations(doc: Any, where: str, registry: str = "phu-quoc"
              ) -> tuple[boards.Station, ...]:
    _need(isinstance(doc, list) and bool(doc), where, "needs a list of at least one station")
    reg = boards.registry(registry)
    out: list[boards.Station] = []
    for i, entry in enumerate(doc):
        w = f"{where}[{i}]"
        if isinstance(entry, str):
            entry = {"id": entry}
        _need(isinstance(entry, dict) and set(entry) <= {"id", "sensors", "options"}, w,
              "must be a station id or {id, sensors, options}")
        try:
            station = reg.get(entry.get("id", ""))
        except boards.BoardsError as e:
            raise ScenarioError(f"{w}.id: {e}") from None
        _need(station.id not in {s.id for s in out}, f"{w}.id", f"{station.id} appears twice")
        if "options" in entry:  # the profile's options this station carries in the scenario
            opts = entry["options"]
            known = boards.profile(station.profile).get("options", {})
            _need(isinstance(opts, list) and all(o in known for o in opts)
                  and len(set(opts)) == len(opts), f"{w}.options",
                  f"{opts!r} is not a list of {station.profile}'s options "
                  f"({', '.join(known) or 'it has none'})")
            station = dataclasses.replace(station, options=tuple(opts))
        swaps = entry.get("sensors", {})
        _need(isinstance(swaps, dict), f"{w}.sensors", "must map sensor id to overrides")
        ids = {s["id"]: s for s in station.sensors()}
        merged = {k: dict(v) for k, v in station.overrides.items()}
        for sid, over in swaps.items():
            _need(sid in ids, f"{w}.sensors.{sid}", f"no such sensor (has {', '.join(ids)})")
            sound = "sound" in ids[sid]["spec"]
            _need(isinstance(over, dict) and set(over) <= {"model", "address"} | (
                {"street"} if sound else set()), f"{w}.sensors.{sid}",
                  "only model and address can be changed" +
                  (", and a sound meter's street (noise profile)" if sound else ""))
            if "street" in over:
                known = noise.profiles()
                _need(over["street"] in known, f"{w}.sensors.{sid}.street",
                      f"{over['street']!r} is not a noise profile "
                      f"({', '.join(sorted(known))}; hil/data/noise-profiles.json)")
            model = over.get("model", ids[sid]["model"])
            _need(model in boards.catalog(), f"{w}.sensors.{sid}.model",
                  f"{model!r} is not in boards/catalog")
            _need(boards.catalog()[model]["bus"] == ids[sid]["spec"]["bus"],
                  f"{w}.sensors.{sid}.model", f"{model} is not on the same kind of bus")
            merged[sid] = {**merged.get(sid, {}), **over}
        out.append(dataclasses.replace(station, overrides=merged))
    return tuple(out)


def _window(entry: dict, start: float, end: float, where: str) -> tuple[float, float]:
    a = start + duration(entry.get("from", 0), f"{where}.from")
    b = start + duration(entry["to"], f"{where}.to") if "to" in entry else end
    _need(start <= a < b <= end, where, "from/to must lie within the scenario's duration, "
          "from before to")
    return a, b


def _sensor(stations: dict[str, boards.Station], entry: dict, where: str) -> tuple[str, dict]:
    sid = entry.get("station")
    _need(sid in stations, f"{where}.station", f"{sid!r} is not one of the scenario's stations")
    sensors = {s["id"]: s for s in stations[sid].sensors()}
    sensor = entry.get("sensor")
    _need(sensor in sensors, f"{where}.sensor",
          f"{sensor!r} is not a sensor of {sid} ({', '.join(sensors)})")
    return sid, sensors[sensor]


def _fault(stations: dict, entry: Any, start: float, end: float, where: str) -> FaultSpec:
    _need(isinstance(entry, dict), where, "must be a mapping")
    sid, sensor = _sensor(stations, entry, where)
    a, b = _window(entry, start, end, where)
    kind = entry.get("fault")
    given: dict[str, Any] = {}
    for key, value in entry.items():
        if key in ("station", "sensor", "fault", "from", "to"):
            continue
        if key in FAULT_DURATIONS:
            given[FAULT_DURATIONS[key]] = duration(value, f"{where}.{key}")
        else:
            given[key] = value
    try:
        fault = faults.make(str(kind), a, b, where, **given)
    except faults.FaultError as e:
        raise ScenarioError(str(e)) from None
    spec = sensor["spec"]
    family = spec["stream"]["frame"] if spec["bus"] == "stream" else "modbus"
    params = [ch["param"] for ch in spec["channels"]]
    if fault.param:
        _need(fault.param in params, f"{where}.param",
              f"{fault.param!r} is not a channel of {sensor['model']} ({', '.join(params)})")
    _need(not (fault.kind == "wrong_id" and family != "modbus"), f"{where}.fault",
          "wrong_id needs a Modbus sensor (a stream has no slave address)")
    _need(not (fault.kind == "unavailable" and family != "modbus"), f"{where}.fault",
          "unavailable needs a Modbus sensor (a frame has no word meaning no value)")
    return FaultSpec(sid, sensor["id"], fault)


def _checks(stations: dict, entry: Any, start: float, end: float, where: str,
            firmware: ota_scenario.Firmware | None) -> list[Check]:
    """One check; an OTA check with `stations: [...]` is one per station, each in the report
    with the station after its `what`."""
    if not isinstance(entry, dict):
        return [_check(stations, entry, start, end, where)]
    kind = next((k for k in OTA_CHECKS if k in entry), None)
    if kind is not None:
        _need(firmware is not None, f"{where}.{kind}",
              "an over-the-air check needs the scenario's firmware and ota sections")
        body = entry[kind]
        if kind == "rollout" and isinstance(body, dict):
            _need(body.get("id") in firmware.rollout_ids, f"{where}.rollout.id",
                  f"{body.get('id')!r} is not the id of one of the ota rollout steps "
                  f"({', '.join(sorted(firmware.rollout_ids)) or 'none'})")
        if isinstance(body, dict) and "stations" in body:
            many = body["stations"]
            _need(isinstance(many, list) and bool(many) and "station" not in body,
                  f"{where}.{kind}.stations", "must be a list of stations (instead of station)")
            rest = {k: v for k, v in body.items() if k != "stations"}
            return [_check(stations, {**entry, "what": f"{entry.get('what')} ({sid})",
                                      kind: {**rest, "station": sid}}, start, end, where)
                    for sid in many]
        entry = {**entry, kind: body}
    return [_check(stations, entry, start, end, where)]


def _check(stations: dict, entry: Any, start: float, end: float, where: str) -> Check:
    _need(isinstance(entry, dict), where, "must be a mapping")
    kinds = [k for k in CHECK_KEYS if k in entry]
    _need(len(kinds) == 1, where, f"names exactly one of {', '.join(CHECK_KEYS)}")
    kind = kinds[0]
    body = entry[kind]
    _need(isinstance(body, dict), f"{where}.{kind}", "must be a mapping")
    what = entry.get("what")
    _need(isinstance(what, str) and bool(what), f"{where}.what", "missing")
    for key in entry:
        _need(key in ("what", kind, "min", "max"), f"{where}.{key}", "unknown key")
    spec = {**body, **{k: entry[k] for k in ("min", "max") if k in entry}}
    for key in spec:
        _need(key in COMMON_CHECK_KEYS | CHECK_KEYS[kind], f"{where}.{kind}.{key}",
              f"unknown key (known: {', '.join(sorted(COMMON_CHECK_KEYS | CHECK_KEYS[kind]))})")
    sid = spec.pop("station", None) if kind != "rollout" else ""  # a rollout: many stations
    _need(kind == "rollout" or sid in stations, f"{where}.{kind}.station",
          f"{sid!r} is not one of the scenario's stations")
    if kind in OTA_CHECKS:
        ota_scenario.check_spec(kind, spec, f"{where}.{kind}", list(stations), _fail)
    if "between" in spec:
        b = spec["between"]
        _need(isinstance(b, list) and len(b) == 2, f"{where}.{kind}.between", "is not [from, to]")
        spec["between"] = [start + duration(b[0], f"{where}.{kind}.between[0]"),
                           start + duration(b[1], f"{where}.{kind}.between[1]")]
        _need(spec["between"][0] < spec["between"][1], f"{where}.{kind}.between",
              "from must come before to")
    for key in ("min", "max"):
        if key in spec:
            _need(isinstance(spec[key], int) and spec[key] >= 0, f"{where}.{key}",
                  "must be a whole number ≥ 0")
    if "pattern" in spec:
        try:
            re.compile(str(spec["pattern"]))
        except re.error as e:
            raise ScenarioError(f"{where}.{kind}.pattern: not a regular expression ({e})") from None
    for key in ("qc_bit", "no_qc_bit"):
        if key in spec:
            from collector.processors.qc.checks import BIT_NAMES

            _need(spec[key] in BIT_NAMES.values(), f"{where}.{kind}.{key}",
                  f"{spec[key]!r} is not one of {', '.join(BIT_NAMES.values())}")
    if "param" in spec or "params" in spec:
        params = spec.get("params", [spec.get("param")])
        known = stations[sid].params()
        _need(isinstance(params, list) and all(p in known for p in params),
              f"{where}.{kind}.params", f"{params!r}: {sid} measures {', '.join(known)}")
    return Check(what, kind, sid, spec)


def load(path: str | Path) -> Scenario:
    path = Path(path)
    where = path.name
    try:
        import yaml
    except ImportError:
        raise ScenarioError("reading scenarios needs PyYAML (pip install pyyaml)") from None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{where}: not YAML ({e})") from None
    _need(isinstance(doc, dict), where, "must be a mapping at the top")
    for key in doc:
        _need(key in TOP_KEYS, f"{where}: {key}", f"unknown key (known: {', '.join(TOP_KEYS)})")
    name = doc.get("name", path.stem)
    _need(name == path.stem and NAME.fullmatch(name) is not None, f"{where}: name",
          f"{name!r} must equal the file name and be lower-case letters, digits and '-'")
    start = instant(doc.get("start"), f"{where}: start")
    length = duration(doc.get("duration"), f"{where}: duration")
    _need(length > 0, f"{where}: duration", "must be longer than 0")
    try:
        speed = check_speed(doc.get("speed", 300), f"{where}: speed")
    except ClockError as e:
        raise ScenarioError(str(e)) from None
    sample_s = _int(doc, "sample_s", 150, 1, 3600, f"{where}:")
    report_s = _int(doc, "report_s", 300, sample_s, 86400, f"{where}:")
    registry = doc.get("registry", "phu-quoc")
    _need(isinstance(registry, str) and (boards.HERE / "registry" / f"{registry}.json").is_file(),
          f"{where}: registry", f"{registry!r} is not a network under boards/registry")
    stations = _stations(doc.get("stations"), f"{where}: stations", registry)
    by_id = {s.id: s for s in stations}
    end = start + length
    fs = tuple(_fault(by_id, f, start, end, f"{where}: faults[{i}]")
               for i, f in enumerate(doc.get("faults") or []))
    cmds = []
    for i, c in enumerate(doc.get("commands") or []):
        w = f"{where}: commands[{i}]"
        _need(isinstance(c, dict) and c.get("station") in by_id and isinstance(c.get("cmd"), str),
              w, "needs station (one of the scenario's), at and cmd")
        at = start + duration(c.get("at", 0), f"{w}.at")
        _need(at <= end, f"{w}.at", "after the scenario ends")
        cmds.append(Command(c["station"], at, c["cmd"], dict(c.get("args") or {})))
    firmware = None
    if "firmware" in doc or "ota" in doc:
        firmware = ota_scenario.parse(doc.get("firmware"), doc.get("ota"), list(by_id), start,
                                      end, where, duration, _fail)
    checks = tuple(c for i, entry in enumerate(doc.get("checks") or [])
                   for c in _checks(by_id, entry, start, end, f"{where}: checks[{i}]",
                                    firmware))
    _need(bool(checks), f"{where}: checks", "a scenario needs at least one expected outcome")
    department = doc.get("department") or {}
    _need(isinstance(department, dict), f"{where}: department",
          "must be a mapping: the run folder's regulations.json "
          "(collector/rules/README.md)")
    # YAML reads 2025-11-14 as a date: the file holds it as the text the collector reads
    department = json.loads(json.dumps(department, default=str))
    return Scenario(name=name, path=path, about=str(doc.get("about", "")).strip(), start=start,
                    duration_s=length, speed=speed, sample_s=sample_s, report_s=report_s,
                    seed=_int(doc, "seed", 0, 0, 2**31, f"{where}:"), stations=stations,
                    faults=fs, commands=tuple(cmds), checks=checks, registry=registry,
                    department=department, firmware=firmware)


def discover(folder: Path = HERE) -> dict[str, Path]:
    """Scenario name -> file, for every *.yaml in the folder."""
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def load_named(names: list[str], folder: Path = HERE) -> list[Scenario]:
    found = discover(folder)
    missing = [n for n in names if n not in found]
    if missing:
        raise ScenarioError(f"no scenario {', '.join(missing)} in {folder} "
                            f"(known: {', '.join(found) or 'none'})")
    return [load(found[n]) for n in names]


def moved(sc: Scenario, start: float, speed: float | None = None) -> Scenario:
    """The same scenario starting at another station time (a board keeps real time)."""
    shift = start - sc.start
    fs = tuple(dataclasses.replace(f, fault=dataclasses.replace(
        f.fault, start=f.fault.start + shift, end=f.fault.end + shift)) for f in sc.faults)
    cmds = tuple(dataclasses.replace(c, at=c.at + shift) for c in sc.commands)
    checks = tuple(dataclasses.replace(c, spec={**c.spec, "between": [
        c.spec["between"][0] + shift, c.spec["between"][1] + shift]}) if "between" in c.spec
        else c for c in sc.checks)
    return dataclasses.replace(sc, start=start, speed=speed or sc.speed, faults=fs,
                               commands=cmds, checks=checks)
