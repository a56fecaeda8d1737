"""Board, sensor-model and station facts, read from the JSON files beside this module.

The JSON is the single source: the firmware gets a resolved per-station config built here
(`firmware_config`), the simulators answer the catalog register maps, and the collector takes
station kinds, units and ranges from the registry. Every error names the file and the key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
STATION_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
KINDS = ("air", "tap_water", "wastewater", "sea_water", "surface_water")
REGISTER_TYPES = ("int16", "uint16", "int32", "uint32", "float32")
WORD_ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")
FRAME_FAMILIES = ("pms", "sds", "hpma", "hpmaqa", "ze", "zeqa", "bm")
# A sound-level model ("sound" section): one register holds the A-weighted level, read every
# sound.sample_s seconds; the station records these six parameters of each report period from
# those levels, in this order (firmware devices/sound.py takes them by position), so each of
# the model's channels names this parameter and the same register.
SOUND_PARAMS = ("laeq", "lamax", "lamin", "l10", "l50", "l90")
SOUND_MAX_SAMPLE_S = 60  # firmware config.py: a sensor's own sample_s 0 (the station's) or 1..60
# The words each frame family carries, as the firmware's bus/frames.py names them (a test holds
# the two equal): a catalog channel naming another word would only fail at a station's boot.
FRAME_FIELDS = {
    "pms": ("pm1_cf1", "pm2_5_cf1", "pm10_cf1", "pm1_atm", "pm2_5_atm", "pm10_atm", "n0_3",
            "n0_5", "n1_0", "n2_5", "n5_0", "n10", "reserved"),
    "sds": ("pm2_5", "pm10"),
    # bus/frames_more.py, loaded only by a station that has one of these
    "hpma": ("pm2_5", "pm10"),
    "hpmaqa": ("pm2_5", "pm10", "w3", "w5", "w7", "w9", "w11", "w13"),
    "ze": ("conc",),
    "zeqa": ("w2", "w4", "w6"),
    # a 0x42 0x4D frame of any length: the word at byte N, unsigned (wN) or signed (sN)
    "bm": tuple(f"w{n}" for n in range(4, 37, 2)) + tuple(f"s{n}" for n in range(4, 37, 2)),
}


class BoardsError(ValueError):
    """A boards/ data file is missing or holds a value outside what the firmware accepts."""


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BoardsError(f"{path.relative_to(HERE.parent)}: no such file") from None
    except json.JSONDecodeError as e:
        raise BoardsError(f"{path.relative_to(HERE.parent)}: not JSON ({e})") from None


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise BoardsError(f"{where}: {msg}")


def _check_model(m: dict, where: str) -> dict:
    _need(m.get("bus") in ("modbus", "stream"), f"{where}: bus",
          f"{m.get('bus')!r} is not modbus|stream")
    _need(bool(m.get("channels")), f"{where}: channels", "at least one channel is required")
    for i, ch in enumerate(m["channels"]):
        w = f"{where}: channels[{i}]"
        _need(re.fullmatch(r"[a-z0-9_]{1,16}", ch.get("param", "")) is not None, w + ".param",
              f"{ch.get('param')!r} is not a parameter name")
        _need(bool(ch.get("unit")), w + ".unit", "missing")
        lo, hi = ch.get("range", [None, None])
        _need(isinstance(lo, int | float) and isinstance(hi, int | float) and lo < hi,
              w + ".range", f"{ch.get('range')!r} is not [low, high]")
        if m["bus"] == "modbus":
            base = _numbering(m, where)
            _need(isinstance(ch.get("register"), int) and 0 <= ch["register"] - base <= 0xFFFF,
                  w + ".register", f"{ch.get('register')!r} is not {base}..{base + 0xFFFF}")
            _need(ch.get("type") in REGISTER_TYPES, w + ".type",
                  f"{ch.get('type')!r} is not one of {', '.join(REGISTER_TYPES)}")
            if ch["type"] in ("int32", "uint32", "float32"):
                _need(ch.get("order") in WORD_ORDERS, w + ".order",
                      f"{ch.get('order')!r} is not one of {', '.join(WORD_ORDERS)}")
            for key, lo, hi in (("error_register", base, base + 0xFFFF),
                                ("decimals_register", base, base + 0xFFFF),
                                ("error_mask", 1, 0xFFFF)):
                v = ch.get(key, lo)
                _need(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi,
                      f"{w}.{key}", f"{v!r} is not {lo}..{hi}")
            _need("error_mask" not in ch or "error_register" in ch, w + ".error_mask",
                  "needs an error_register")
        else:
            words = FRAME_FIELDS.get(m.get("stream", {}).get("frame"), ())
            _need(ch.get("field") in words or not words, w + ".field",
                  f"{ch.get('field')!r} is not a word of the frame ({', '.join(words)})")
    # a real model says where its map comes from and how sure that is (sensor-maps.md §0)
    _need(("source" in m) == ("confidence" in m), f"{where}: source",
          "a real model gives both source and confidence")
    _need("confidence" not in m or m["confidence"] in CONFIDENCES, f"{where}: confidence",
          f"{m.get('confidence')!r} is not one of {', '.join(CONFIDENCES)}")
    if m["bus"] == "modbus":
        _check_register_quirks(m, where)
        _setup_procedure().check(m, where)
    params = [ch["param"] for ch in m["channels"]]
    _need(len(set(params)) == len(params), f"{where}: channels",
          f"a parameter appears twice in {params}")
    if m["bus"] == "modbus":
        _need(m.get("modbus", {}).get("function") in (3, 4), f"{where}: modbus.function",
              "must be 3 or 4")
    else:
        _need(m.get("stream", {}).get("frame") in FRAME_FAMILIES, f"{where}: stream.frame",
              f"must be one of {', '.join(FRAME_FAMILIES)}")
    if "sound" in m:
        _check_sound(m, where)
    return m


def _check_sound(m: dict, where: str) -> None:
    """A sound-level model: Modbus, its own sampling period, the six recorded parameters in
    SOUND_PARAMS order, every one decoding the same register the same way."""
    sound = m["sound"]
    _need(m["bus"] == "modbus", f"{where}: sound", "only a Modbus model can be a sound meter")
    _need(isinstance(sound, dict), f"{where}: sound", f"{sound!r} is not an object")
    v = sound.get("sample_s")
    _need(_int(v, 1, SOUND_MAX_SAMPLE_S), f"{where}: sound.sample_s",
          f"{v!r} is not a whole number of seconds in 1..{SOUND_MAX_SAMPLE_S}")
    params = tuple(ch["param"] for ch in m["channels"])
    _need(params == SOUND_PARAMS, f"{where}: channels",
          f"a sound meter records {', '.join(SOUND_PARAMS)} in this order, got {', '.join(params)}")
    first = m["channels"][0]
    for i, ch in enumerate(m["channels"][1:], 1):
        for key in ("register", "type", "scale", "offset", "order", "range", "unit"):
            _need(ch.get(key) == first.get(key), f"{where}: channels[{i}].{key}",
                  f"{ch.get(key)!r} differs from channels[0]'s {first.get(key)!r}: all six come "
                  "from one level register")


MAX_READ = 125  # registers in one Modbus read (the firmware's bus/modbus_rtu.py MAX_READ)
NUMBERINGS = (0, 1, 30001, 40001)  # what a manual's register numbers start from (PDU: 0)
SIGNS = ("twos", "magnitude", "offset")
CONFIDENCES = ("A", "B", "C", "A/B", "A/C", "B/C")


def _int(v: object, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _channel_registers(ch: dict, base: int) -> list[int]:
    """PDU registers a channel's decoding touches: its value word(s), decimals and error."""
    width = 1 if ch["type"] in ("int16", "uint16") else 2
    regs = [ch["register"] - base, ch["register"] - base + width - 1]
    regs += [ch[k] - base for k in ("decimals_register", "error_register", "unit_register")
             if k in ch]
    return regs


def _numbering(m: dict, where: str) -> int:
    """What the model's manual numbers registers from: 0 (PDU addresses, the default), 1
    ("register 1 = address 0"), 30001 or 40001 (4xxxx notation); converted once, here."""
    base = m.get("modbus", {}).get("numbering", 0)
    _need(base in NUMBERINGS and not isinstance(base, bool), f"{where}: modbus.numbering",
          f"{base!r} is not one of {', '.join(map(str, NUMBERINGS))}")
    return base


def _check_register_quirks(m: dict, where: str) -> None:
    """The keys for real transmitters' quirks (sensor-maps.md section 6): register numbering,
    several blocks with their own function code, actions before a read, sign encodings and
    values meaning "unavailable". What the firmware would refuse at boot is refused here."""
    mb = m.get("modbus", {})
    base = _numbering(m, where)
    for i, ch in enumerate(m["channels"]):
        w = f"{where}: channels[{i}]"
        for key in ("register", "decimals_register", "error_register", "unit_register"):
            _need(key not in ch or (_int(ch[key], 0, 0x1FFFF) and
                                    _int(ch[key] - base, 0, 0xFFFF)), f"{w}.{key}",
                  f"{ch.get(key)!r} is not a register from modbus.numbering {base}")
        # 6.6 a unit-code register: each code the manual lists, and what it multiplies the
        # value by to give the channel's unit; a code not listed gives no value
        _need(("unit_register" in ch) == ("unit_codes" in ch), w + ".unit_codes",
              "unit_register and unit_codes go together")
        codes = ch.get("unit_codes", [])
        _need(isinstance(codes, list) and all(
            isinstance(c, dict) and _int(c.get("code"), 0, 0xFFFF) and
            isinstance(c.get("scale"), int | float) and not isinstance(c["scale"], bool) and
            c["scale"] != 0 for c in codes) and ("unit_codes" not in ch or codes),
            w + ".unit_codes", f"{codes!r} is not a list of {{code 0..65535, scale (non-zero)}}")
        _need(len({c["code"] for c in codes}) == len(codes), w + ".unit_codes",
              "a code appears twice")
        sign = ch.get("sign", "twos")
        _need(sign in SIGNS, w + ".sign", f"{sign!r} is not one of {', '.join(SIGNS)}")
        _need(sign == "twos" or ch["type"] != "float32", w + ".sign",
              "a float32 carries its own sign")
        _need((sign == "offset") == ("negative_from" in ch), w + ".negative_from",
              "goes with sign 'offset' (raw >= negative_from means -(raw - negative_from))")
        _need("negative_from" not in ch or _int(ch["negative_from"], 1, 0xFFFFFFFF),
              w + ".negative_from", f"{ch.get('negative_from')!r} is not 1..4294967295")
        void = ch.get("unavailable", [])
        _need(isinstance(void, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in void),
            w + ".unavailable", f"{void!r} is not a list of raw register values")
    # what an unmapped register gets: an exception (default) or no answer at all (Yosemitech);
    # the firmware reads only mapped blocks, the hil simulators answer as the model does
    _need(mb.get("unmapped", "exception") in ("exception", "silent"), f"{where}: modbus.unmapped",
          f"{mb.get('unmapped')!r} is not exception or silent")
    blocks = mb.get("blocks", [])
    _need(isinstance(blocks, list), f"{where}: modbus.blocks", "must be a list")
    spans = []
    for j, b in enumerate(blocks):
        w = f"{where}: modbus.blocks[{j}]"
        _need(isinstance(b, dict) and b.get("function", mb.get("function")) in (3, 4),
              w + ".function", "must be 3 or 4")
        _need(_int(b.get("register", -1) - base, 0, 0xFFFF), w + ".register",
              f"{b.get('register')!r} is not a register")
        _need(_int(b.get("count"), 1, MAX_READ), w + ".count",
              f"{b.get('count')!r} is not 1..{MAX_READ} registers (one read)")
        spans.append((b["register"] - base, b["register"] - base + b["count"]))
    regs = [_channel_registers(ch, base) for ch in m["channels"]]
    if spans:
        for i, r in enumerate(regs):
            _need(any(lo <= min(r) and max(r) < hi for lo, hi in spans),
                  f"{where}: channels[{i}].register",
                  f"registers {min(r)}..{max(r)} lie in no modbus.blocks entry (each block is "
                  "one read, and this model answers only the registers it maps)")
        for j, (lo, hi) in enumerate(spans):
            _need(any(lo <= min(r) and max(r) < hi for r in regs),
                  f"{where}: modbus.blocks[{j}]", "holds no channel")
    else:
        lo, hi = min(min(r) for r in regs), max(max(r) for r in regs)
        _need(hi - lo + 1 <= MAX_READ, f"{where}: channels",
              f"span {hi - lo + 1} registers ({lo}..{hi}), more than one read ({MAX_READ}): "
              "list the blocks to read in modbus.blocks")
    for j, a in enumerate(mb.get("before_read", [])):
        w = f"{where}: modbus.before_read[{j}]"
        _need(isinstance(a, dict) and a.get("function") in (3, 4, 16), w + ".function",
              "must be 3 or 4 (a read, usually of 0 registers) or 16 (a write)")
        _need(_int(a.get("register", -1) - base, 0, 0xFFFF), w + ".register",
              f"{a.get('register')!r} is not a register")
        if a["function"] == 16:
            vals = a.get("values")
            _need(isinstance(vals, list) and 1 <= len(vals) <= 123
                  and all(_int(v, 0, 0xFFFF) for v in vals), w + ".values",
                  f"{vals!r} is not 1..123 register words")
        else:
            _need(_int(a.get("count", 0), 0, MAX_READ), w + ".count",
                  f"{a.get('count')!r} is not 0..{MAX_READ}")
        _need(_int(a.get("wait_ms", 0), 0, 60000), w + ".wait_ms",
              f"{a.get('wait_ms')!r} is not 0..60000 ms")
        _need(isinstance(a.get("once", False), bool), w + ".once", "must be true or false")


def _firmware_reads(spec: dict) -> dict:
    """The sensor entry's `read` blocks and `send` actions (PDU addresses), only when the model
    has them."""
    mb = spec["modbus"]
    base = mb.get("numbering", 0)
    out = {}
    if mb.get("blocks"):
        out["read"] = [[b.get("function", mb["function"]), b["register"] - base, b["count"]]
                         for b in mb["blocks"]]
    if mb.get("before_read"):
        out["send"] = [[a["function"], a["register"] - base,
                       a["values"] if a["function"] == 16 else a.get("count", 0),
                       a.get("wait_ms", 0), 1 if a.get("once") else 0]
                      for a in mb["before_read"]]
    return out


def _firmware_channel(ch: dict, base: int) -> dict:
    """One catalog channel as the firmware reads it (PDU registers, compact keys)."""
    sign = ch.get("sign", "twos")
    out = {k: v for k, v in (
        ("param", ch["param"]), ("unit", ch["unit"]), ("reg", ch["register"] - base),
        ("type", ch["type"]), ("order", ch.get("order")), ("scale", ch.get("scale")),
        ("offset", ch.get("offset")),
        ("dec_reg", ch["decimals_register"] - base if "decimals_register" in ch else None),
        ("err_reg", ch["error_register"] - base if "error_register" in ch else None),
        ("err_mask", ch.get("error_mask")),
        ("signed", {"magnitude": -1, "offset": ch.get("negative_from")}.get(sign)),
        ("discard", ch.get("unavailable") or None),
        ("code", [ch["unit_register"] - base, [[c["code"], c["scale"]] for c in
                                               ch["unit_codes"]]]
         if "unit_register" in ch else None),
        ("range", ch["range"])) if v is not None}
    return out


@cache
def catalog() -> dict[str, dict]:
    """Every sensor model, by model name."""
    out = {}
    for path in sorted((HERE / "catalog").glob("*.json")):
        m = _read(path)
        where = f"boards/catalog/{path.name}"
        _need(m.get("model") == path.stem, f"{where}: model",
              f"must equal the file name {path.stem!r}")
        out[path.stem] = _check_model(m, where)
        _firmware_rules().check_model(m, where)
    return out


def _param_names() -> ModuleType:
    """boards/param_names.py (imported late: it imports BoardsError from here)."""
    from boards import param_names

    return param_names


def _setup_procedure() -> ModuleType:
    """boards/setup_procedure.py (imported late: it imports BoardsError from here)."""
    from boards import setup_procedure

    return setup_procedure


def _firmware_rules() -> ModuleType:
    """boards/firmware_rules.py, imported when first used: it imports BoardsError from here."""
    from boards import firmware_rules

    return firmware_rules


@cache
def profile(name: str) -> dict:
    return _read(HERE / "profiles" / f"{name}.json")


def profile_sensors(name: str, options: tuple[str, ...] = ()) -> list[dict]:
    """A profile's sensor entries plus those of the named options (`options` in the profile:
    name -> {"about", "sensors"}), in that order."""
    prof = profile(name)
    out = list(prof["sensors"])
    for opt in options:
        out += prof.get("options", {})[opt]["sensors"]
    return out


def _options(s: dict, prof: dict, where: str) -> tuple[str, ...]:
    """A registry entry's `options`: names of its profile's options, each once."""
    given = s.get("options", [])
    known = prof.get("options", {})
    _need(isinstance(given, list) and all(isinstance(o, str) for o in given),
          where + ".options", f"{given!r} is not a list of option names")
    for o in given:
        _need(o in known, where + ".options",
              f"{o!r} is not an option of profile {s.get('profile')!r} "
              f"({', '.join(known) or 'it has none'})")
    _need(len(set(given)) == len(given), where + ".options", f"an option appears twice in {given}")
    return tuple(given)


@cache
def pins(board: str) -> dict:
    """A board's pin/flash file, checked (boards/flash_layout.py: UARTs, the partition table
    it needs, the filesystem's budget)."""
    from boards import flash_layout

    return flash_layout.check_pins(_read(HERE / "pins" / f"{board}.json"), board)


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    kind: str
    lat: float
    lon: float
    station_class: str
    regulation: str
    column: str | None
    profile: str
    overrides: dict = field(default_factory=dict, compare=False, hash=False)
    raw: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    # the profile's options this station carries (e.g. "noise": a sound-level meter)
    options: tuple[str, ...] = ()

    def sensors(self) -> list[dict]:
        """Profile sensor entries, then those of the station's profile options, with this
        station's overrides and the model's facts."""
        out = []
        for s in profile_sensors(self.profile, self.options):
            merged = {**s, **self.overrides.get(s["id"], {})}
            merged["spec"] = _param_names().apply(catalog()[merged["model"]],
                                                  merged.get("params"))
            out.append(merged)
        return out

    def params(self) -> dict[str, str]:
        """param -> unit for every channel the station's sensors carry."""
        return {ch["param"]: ch["unit"] for s in self.sensors() for ch in s["spec"]["channels"]}

    def bases(self) -> dict[str, str]:
        """param -> the base parameter it measures (itself unless the profile renamed a
        channel, e.g. temp_do -> temp: boards/param_names.py); what rules, QC and
        dashboards key on."""
        return _param_names().bases(self.sensors())

    def chosen(self) -> dict[str, str]:
        """base parameter -> the one channel of it that counts where one value per parameter
        is given (indices, the Circular 10 file): boards/param_names.py chosen()."""
        return _param_names().chosen(self.sensors())


@dataclass(frozen=True)
class Registry:
    network: str
    title: str
    timezone: str
    stations: tuple[Station, ...]
    province: str = ""  # the province running the network (e-gov file names, reports)

    def get(self, station_id: str) -> Station:
        for s in self.stations:
            if s.id == station_id:
                return s
        raise BoardsError(f"unknown station {station_id!r} in registry {self.network!r}")

    def ids(self) -> list[str]:
        return [s.id for s in self.stations]


@cache
def registry(name: str = "phu-quoc") -> Registry:
    where = f"boards/registry/{name}.json"
    doc = _read(HERE / "registry" / f"{name}.json")
    models = catalog()
    stations, seen = [], set()
    for i, s in enumerate(doc.get("stations", [])):
        w = f"{where}: stations[{i}]"
        sid = s.get("id", "")
        _need(STATION_ID.fullmatch(sid) is not None, w + ".id",
              f"{sid!r} is not [a-z0-9-], 2-32 chars")
        _need(sid not in seen, w + ".id", f"{sid!r} appears twice")
        seen.add(sid)
        _need(s.get("kind") in KINDS, w + ".kind",
              f"{s.get('kind')!r} is not one of {', '.join(KINDS)}")
        _need(-90 <= s.get("lat", 999) <= 90 and -180 <= s.get("lon", 999) <= 180, w,
              "lat/lon out of range")
        flow = s.get("design_flow_m3d")
        # the permit's total design capacity picks a wastewater limit's flow tier
        _need(flow is None or (isinstance(flow, int | float) and not isinstance(flow, bool)
                               and flow > 0), w + ".design_flow_m3d",
              f"{flow!r} is not a flow in m3/day > 0")
        prof = profile(s.get("profile", ""))
        _need(prof.get("kind") == s["kind"], w + ".profile",
              f"profile {s.get('profile')!r} is for {prof.get('kind')!r}, station is {s['kind']!r}")
        options = _options(s, prof, w)
        entries = profile_sensors(s["profile"], options)
        ids = {p["id"] for p in entries}
        for sensor_id in s.get("sensors", {}):
            _need(sensor_id in ids, w + f".sensors.{sensor_id}", "no such sensor in the profile")
        for p in entries:
            _need(p["model"] in models, f"boards/profiles/{s['profile']}.json: {p['id']}.model",
                  f"{p['model']!r} is not in boards/catalog")
        stations.append(Station(
            id=sid, name=s["name"], kind=s["kind"], lat=s["lat"], lon=s["lon"],
            station_class=s.get("class", ""), regulation=s.get("regulation", ""),
            column=s.get("column"), profile=s["profile"], overrides=s.get("sensors", {}), raw=s,
            options=options))
        _check_runnable(stations[-1], w)
    _need(bool(stations), where, "no stations")
    province = doc.get("province", "")
    _need(isinstance(province, str), where + ": province", f"{province!r} is not a string")
    return Registry(network=doc.get("network", name), title=doc.get("title", name),
                    timezone=doc.get("timezone", "UTC"), stations=tuple(stations),
                    province=province)


def _check_runnable(station: Station, where: str, sample_s: int | None = None,
                    report_s: int | None = None) -> None:
    """What the firmware would refuse at the station's boot, refused now (firmware_rules.py):
    the key named in the profile, or in the station entry `where` when it overrides it."""
    prof = profile(station.profile)
    pfile = f"boards/profiles/{station.profile}.json"

    def key(i: int | None, name: str) -> str:
        if i is None:
            given = {"sample_s": sample_s, "report_s": report_s}[name] is not None
            return f"{where}: {name}" if given else f"{pfile}: {name}"
        own = len(prof["sensors"])
        sid = profile_sensors(station.profile, station.options)[i]["id"]
        if name in station.overrides.get(sid, {}):
            return f"{where}.sensors.{sid}.{name}"
        if i >= own:  # a sensor of one of the station's profile options
            return f"{pfile}: options: sensor {sid}.{name}"
        return f"{pfile}: sensors[{i}].{name}"

    _firmware_rules().check_station(station.sensors(), sample_s or prof.get("sample_s"),
                                    report_s or prof.get("report_s"), key)


def model_file(path: Path) -> dict:
    """One catalog file read and checked as catalog() does (a model tried from another
    folder before it is copied into boards/catalog)."""
    path = Path(path)
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise BoardsError(f"{path}: {e}") from None
    _need(m.get("model") == path.stem, f"{path}: model", f"must equal the file name {path.stem!r}")
    return _check_model(m, str(path))


def sensor_entry(s: dict, spec: dict) -> dict:
    """A profile sensor entry (id, model, uart, optional address) with its model's facts, as
    the firmware's config.json carries it: no catalog lookups left for the firmware."""
    entry = {"id": s["id"], "model": s["model"], "bus": spec["bus"], "uart": s["uart"]}
    if spec["bus"] == "modbus":
        mb = spec["modbus"]
        entry.update(addr=s.get("address", mb["default_address"]), fn=mb["function"],
                     timeout_ms=mb["timeout_ms"], turnaround_ms=mb["turnaround_ms"])
        entry["ch"] = [_firmware_channel(ch, mb.get("numbering", 0))
                       for ch in spec["channels"]]
        entry.update(_firmware_reads(spec))
        if "sound" in spec:  # polled at its own period (firmware devices/sound.py)
            entry["sample_s"] = spec["sound"]["sample_s"]
    else:
        st = spec["stream"]
        entry.update(frame=st["frame"], warmup_s=st["warmup_s"], sample_s=st["sample_s"])
        if st.get("match"):
            entry["match"] = [[m["position"], m["byte"]] for m in st["match"]]
        if st.get("send"):
            entry["send"] = [[list(bytes.fromhex(c["bytes"])), c["every_ms"]]
                             for c in st["send"]]
        entry["ch"] = [{"param": ch["param"], "unit": ch["unit"], "field": ch["field"],
                        "range": ch["range"]} for ch in spec["channels"]]
        for ch, given in zip(entry["ch"], spec["channels"], strict=True):
            if given.get("scale", 1) != 1:
                ch["scale"] = given["scale"]
    return entry


def firmware_config(station: Station, uarts: dict[str, dict], mqtt: dict,
                    sample_s: int | None = None, report_s: int | None = None,
                    fw: str = "0.1.0", clock: dict | None = None) -> dict:
    """The resolved config a station board runs from: no catalog lookups left for the firmware.

    `uarts` maps the profile's UART names to what the HAL opens: on the unix port
    {"path": "/dev/pts/7"}, on an ESP32 the pin map entry. Only the keys the firmware reads
    are copied, so the file stays small on flash. `clock` (unix port only: speed, t0,
    valid_after_s; firmware/README.md) is copied in when given.
    """
    prof = profile(station.profile)
    _check_runnable(station, f"station {station.id}", sample_s, report_s)
    sensors = []
    for s in station.sensors():
        _need(s["uart"] in uarts, f"station {station.id}: sensor {s['id']}",
              f"no port for uart {s['uart']!r}")
        sensors.append(sensor_entry(s, s["spec"]))
    serial = {}
    for name, port in uarts.items():
        models = [s["spec"] for s in station.sensors() if s["uart"] == name]
        serial[name] = {**(models[0]["serial"] if models else {}), **port}
    out = {
        "station": station.id, "kind": station.kind, "fw": fw,
        "sample_s": sample_s or prof["sample_s"], "report_s": report_s or prof["report_s"],
        "mqtt": mqtt, "uarts": serial, "sensors": sensors,
    }
    if clock is not None:
        out["clock"] = dict(clock)
    return out
