"""The registry a technician works from, and adding a station to it.

`--registry` names a network under boards/registry (`phu-quoc`) or a JSON file anywhere (a copy
to try things on). Every load goes through `boards`' own checks; a new station is appended only
when the whole file, with it, passes them, and the file is replaced atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import boards
from collector.services.credentials import RESERVED_MQTT_USERS

DEFAULT = "phu-quoc"
RESERVED_IDS = (*RESERVED_MQTT_USERS, "alerts")  # broker accounts and the collector's topic level
FAR_KM = 100.0  # a new station farther than this from every other one is probably a typo


class RegistryError(ValueError):
    """The registry cannot be read, or a new station would make it invalid (names what)."""


def locate(value: str | os.PathLike | None) -> Path:
    """A registry name (boards/registry/<name>.json) or a path to a .json file."""
    text = str(value or DEFAULT)
    if text.endswith(".json") or os.sep in text:
        return Path(text).expanduser().resolve()
    return boards.HERE / "registry" / f"{text}.json"


def _read(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(f"{path}: no such registry file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RegistryError(f"{path}: not JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("stations"), list):
        raise RegistryError(f"{path}: expected an object with a \"stations\" list")
    return doc


def load(value: str | os.PathLike | None = None) -> boards.Registry:
    """The registry, checked by `boards` (read afresh: a file may have just gained a station)."""
    path = locate(value)
    _read(path)  # a missing or broken file gets a message naming the path
    # boards.registry reads boards/registry/<name>.json; an absolute name points elsewhere.
    # Its cache is bypassed so an appended station is seen at once.
    name = path.stem if path.parent == boards.HERE / "registry" else str(path.with_suffix(""))
    try:
        return boards.registry.__wrapped__(name)
    except boards.BoardsError as e:
        raise RegistryError(str(e).replace(f"boards/registry/{name}.json", str(path))) from None


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def station_entry(doc: dict, station_id: str, name: str, profile: str, lat: float, lon: float,
                  station_class: str = "", regulation: str | None = None,
                  column: str | None = None, addresses: dict[str, int] | None = None,
                  allow_far: bool = False) -> dict:
    """The registry entry for a new station; RegistryError naming the first thing wrong."""
    if not boards.STATION_ID.fullmatch(station_id):
        raise RegistryError(f"station id {station_id!r} is not lower-case a-z, 0-9 and -, "
                            "2-32 characters, starting with a letter or digit")
    if station_id in RESERVED_IDS:
        raise RegistryError(f"station id {station_id!r} is reserved (a broker account or topic)")
    if any(s.get("id") == station_id for s in doc["stations"]):
        raise RegistryError(f"station {station_id!r} is already in the registry")
    if not name.strip():
        raise RegistryError("the station needs a name")
    try:
        prof = boards.profile(profile)
    except boards.BoardsError:
        known = sorted(p.stem for p in (boards.HERE / "profiles").glob("*.json"))
        raise RegistryError(f"profile {profile!r} does not exist (known: {', '.join(known)})") \
            from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise RegistryError(f"coordinates {lat}, {lon} are not a latitude (-90..90) and a "
                            "longitude (-180..180)")
    others = [s for s in doc["stations"] if isinstance(s.get("lat"), int | float)]
    if others and not allow_far:
        near = min(distance_km(lat, lon, s["lat"], s["lon"]) for s in others)
        if near > FAR_KM:
            raise RegistryError(f"coordinates {lat}, {lon} are {near:.0f} km from the nearest "
                                f"station of this network (latitude and longitude swapped?); "
                                "pass --allow-far if they are right")
    kind = prof["kind"]
    same_kind = [s for s in doc["stations"] if s.get("kind") == kind]
    if regulation is None:
        seen = sorted({s.get("regulation", "") for s in same_kind} - {""})
        if len(seen) != 1:
            raise RegistryError(f"give --regulation: stations of kind {kind!r} use "
                                f"{', '.join(seen) or 'none yet'}")
        regulation = seen[0]
    columns = sorted({s["column"] for s in same_kind if s.get("column")})
    if column is None and columns:
        raise RegistryError(f"give --column for a {kind} station (this network uses "
                            f"{', '.join(columns)})")
    entry = {"id": station_id, "name": name.strip(), "kind": kind, "lat": lat, "lon": lon,
             "class": station_class, "regulation": regulation, "column": column,
             "profile": profile}
    if addresses:
        entry["sensors"] = _overrides(prof, addresses)
    return entry


def _overrides(prof: dict, addresses: dict[str, int]) -> dict:
    sensors = {s["id"]: s for s in prof["sensors"]}
    out = {}
    for sid, addr in addresses.items():
        if sid not in sensors:
            raise RegistryError(f"profile {prof['profile']!r} has no sensor {sid!r} "
                                f"(it has {', '.join(sensors)})")
        if "address" not in sensors[sid]:
            raise RegistryError(f"sensor {sid!r} streams on its own UART; it has no address")
        if not 1 <= addr <= 247:
            raise RegistryError(f"sensor {sid!r}: address {addr} is not 1..247")
        out[sid] = {"address": addr}
    used: dict[tuple[str, int], str] = {}
    for s in prof["sensors"]:
        if "address" not in s:
            continue
        key = (s["uart"], out.get(s["id"], {}).get("address", s["address"]))
        if key in used:
            raise RegistryError(f"sensors {used[key]!r} and {s['id']!r} would both answer at "
                                f"address {key[1]} on uart {key[0]!r}")
        used[key] = s["id"]
    return out


def _stations_end(text: str) -> int | None:
    """Index of the `]` that closes the "stations" array (strings skipped), or None."""
    start = text.find('"stations"')
    at = text.find("[", start) if start >= 0 else -1
    if at < 0:
        return None
    depth, in_str, esc = 0, False, False
    for i in range(at, len(text)):
        c = text[i]
        if in_str:
            esc, in_str = (False, in_str) if esc else (c == "\\", c != '"')
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _appended(text: str, doc: dict, entry: dict) -> str:
    """The file's text with `entry` added at the end of its stations, everything else as it
    was written (hand-made one-line objects stay one line); a full rewrite if that fails."""
    wanted = {**doc, "stations": [*doc["stations"], entry]}
    end = _stations_end(text)
    if end is not None:
        item = "\n".join("  " + line for line in
                         json.dumps(entry, indent=1, ensure_ascii=False).splitlines())
        body = text[:end].rstrip()
        sep = "\n" if body.endswith("[") else ",\n"
        out = body + sep + item + "\n " + text[end:]
        try:
            if json.loads(out) == wanted:
                return out
        except json.JSONDecodeError:
            pass
    return json.dumps(wanted, indent=1, ensure_ascii=False) + "\n"


def append_station(value: str | os.PathLike | None, entry: dict) -> boards.Station:
    """Add `entry` to the registry file; the file changes only if the result loads cleanly."""
    path = locate(value)
    doc = _read(path)
    tmp = path.with_name(f".{path.stem}.new.json")
    tmp.write_text(_appended(path.read_text(encoding="utf-8"), doc, entry), encoding="utf-8")
    try:
        station = load(tmp).get(entry["id"])
    except (RegistryError, boards.BoardsError) as e:
        tmp.unlink()
        raise RegistryError(str(e).replace(str(tmp), str(path))) from None
    os.replace(tmp, path)
    return station
