"""QC limits per station and parameter: the station's catalog sensor ranges plus the data in
limits.json (or a province's own file), merged with kind, station and registry overrides.

Precedence, lowest first: `defaults`, `params.<param>`, `kinds.<kind>.<param>`,
`stations.<id>.<param>`, then the registry station's own `qc.<param>`. Every error names the
file and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import boards
from collector.processors.qc.checks import Limits
from quantrac_common.files import load_json_object

LIMITS_PATH = Path(__file__).resolve().parent / "limits.json"
BOUNDS = ("fail", "suspect")
COUNTS = ("spike_window", "max_gap_s", "flat_suspect_s", "flat_fail_s")
KEYS = tuple(f.name for f in fields(Limits) if f.name != "sensor")
TOP = ("about", "defaults", "params", "kinds", "stations")


class LimitsError(ValueError):
    """A QC limits file holds a key or value the QC stage cannot use."""


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def check_entry(entry: Any, where: str) -> dict[str, Any]:
    """One `{key: value}` set of limits, each value checked against what its test needs."""
    if not isinstance(entry, Mapping):
        raise LimitsError(f"{where}: must be an object, got {entry!r}")
    out: dict[str, Any] = {}
    for key, value in entry.items():
        w = f"{where}.{key}"
        if key not in KEYS:
            raise LimitsError(f"{w}: unknown limit (known: {', '.join(KEYS)})")
        if value is None:
            out[key] = None  # switches the test off for this parameter
        elif key in BOUNDS:
            if not (isinstance(value, list) and len(value) == 2 and all(map(_number, value))
                    and value[0] <= value[1]):
                raise LimitsError(f"{w}: {value!r} is not [low, high] with low <= high")
            out[key] = (float(value[0]), float(value[1]))
        elif key in COUNTS:
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise LimitsError(f"{w}: {value!r} is not a whole number >= 1")
            out[key] = value
        else:
            if not (_number(value) and (key == "flat_floor" or value >= 0)):
                raise LimitsError(f"{w}: {value!r} is not a number >= 0")
            out[key] = float(value)
    lo, hi = out.get("flat_suspect_s"), out.get("flat_fail_s")
    if lo is not None and hi is not None and lo > hi:
        raise LimitsError(f"{where}: flat_suspect_s {lo} exceeds flat_fail_s {hi}")
    return out


def load(path: Path | str | None = None) -> dict[str, Any]:
    """The limits document, every entry checked; `path` None means the bundled limits.json."""
    path = Path(path) if path else LIMITS_PATH
    doc = load_json_object(path, LimitsError)
    for key in doc:
        if key not in TOP:
            raise LimitsError(f"{path}: {key}: unknown key (known: {', '.join(TOP)})")
    out: dict[str, Any] = {"defaults": check_entry(doc.get("defaults", {}), f"{path}: defaults"),
                           "params": check_entry_table(doc.get("params", {}), f"{path}: params")}
    for group in ("kinds", "stations"):
        table = doc.get(group, {})
        if not isinstance(table, Mapping):
            raise LimitsError(f"{path}: {group}: must be an object")
        out[group] = {name: check_entry_table(body, f"{path}: {group}.{name}")
                      for name, body in table.items()}
    return out


def sensor_ranges(station: boards.Station) -> dict[str, tuple[float, float]]:
    """param → [low, high] of the catalog channel that measures it (the last one, as
    `Station.params()` picks the unit)."""
    out = {}
    for sensor in station.sensors():
        for ch in sensor["spec"]["channels"]:
            out[ch["param"]] = (float(ch["range"][0]), float(ch["range"][1]))
    return out


def station_limits(doc: Mapping[str, Any], station: boards.Station) -> dict[str, Limits]:
    own = check_entry_table(station.raw.get("qc", {}), f"registry station {station.id}: qc")
    ranges = sensor_ranges(station)
    out = {}
    bases = station.bases()  # temp_do measures temp: the file's limits are by base parameter
    for param in station.params():
        base = bases.get(param, param)
        merged = {**doc["defaults"], **doc["params"].get(base, {}),
                  **doc["kinds"].get(station.kind, {}).get(base, {}),
                  **doc["stations"].get(station.id, {}).get(param, {}), **own.get(param, {})}
        out[param] = Limits(sensor=ranges.get(param), **merged)
    return out


def check_entry_table(table: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(table, Mapping):
        raise LimitsError(f"{where}: must be an object of parameter → limits")
    return {p: check_entry(e, f"{where}.{p}") for p, e in table.items()}


def registry_limits(registry: str = "phu-quoc",
                    path: Path | str | None = None) -> dict[str, dict[str, Limits]]:
    """station id → param → Limits for every station of the registry."""
    doc = load(path)
    return {s.id: station_limits(doc, s) for s in boards.registry(registry).stations}
