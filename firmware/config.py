# Station config: config.json merged onto defaults.DEFAULTS and checked once at boot.
#
# Every error names the key path ("sensors[2].ch[0].type") and the bad value, so a technician
# reading the boot log knows which line of config.json to fix. Nothing here runs after boot.

import json
import os

from defaults import DEFAULTS, REQUIRED
from bus.frames import FIELDS
from values.decode import ORDERS, TYPES


class ConfigError(ValueError):
    pass


_KIND = {int: "a number", float: "a number", str: "a string", dict: "an object", list: "a list"}


def _fail(where, msg):
    raise ConfigError("config: " + where + ": " + msg)


def _is_num(x):
    return (isinstance(x, int) or isinstance(x, float)) and not isinstance(x, bool)


def merge(given, section, where):
    """given (a dict from config.json) over DEFAULTS[section]; unknown/missing keys fail."""
    if not isinstance(given, dict):
        _fail(where, "must be an object, not " + repr(given))
    template = DEFAULTS[section]
    for key in given:
        if key not in template:
            _fail(where + "." + key if where else key,
                  "unknown key (known: " + ", ".join(sorted(template)) + ")")
    out = {}
    for key, default in template.items():
        path = where + "." + key if where else key
        if key not in given:
            if default is REQUIRED:
                _fail(path, "missing (required)")
            out[key] = default
            continue
        value = given[key]
        if default is None:  # a number or null
            if value is not None and not _is_num(value):
                _fail(path, repr(value) + " should be a number or null")
        elif default is not REQUIRED:
            if _is_num(default):
                ok = _is_num(value)
            else:
                ok = type(value) is type(default)
            if not ok:
                _fail(path, repr(value) + " should be " + _KIND.get(type(default), "?"))
        out[key] = value
    return out


def _int_in(d, key, lo, hi, where):
    v = d[key]
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        _fail(where + "." + key if where else key,
              repr(v) + " is not a whole number in " + str(lo) + ".." + str(hi))


def _one_of(d, key, allowed, where):
    if d[key] not in allowed:
        _fail(where + "." + key, repr(d[key]) + " is not one of " + ", ".join(allowed))


def _name(v, where, limit):
    ok = isinstance(v, str) and 1 <= len(v) <= limit
    if ok:
        for c in v:
            if not ("a" <= c <= "z" or "0" <= c <= "9" or c in "_-"):
                ok = False
    if not ok:
        _fail(where, repr(v) + " is not a lower-case name of 1-" + str(limit) + " characters")


def _text(v, where, limit):
    """A string the encoder can put between JSON quotes as it is."""
    ok = isinstance(v, str) and 1 <= len(v) <= limit
    if ok:
        for c in v:
            if not " " <= c <= "~" or c in "\\\"":
                ok = False
    if not ok:
        _fail(where, repr(v) + " is not 1-" + str(limit) + " printable ASCII characters "
              "without quotes or backslashes")


def _range(ch, where):
    r = ch["range"]
    if not (isinstance(r, list) and len(r) == 2 and _is_num(r[0]) and _is_num(r[1])
            and r[0] < r[1]):
        _fail(where + ".range", repr(r) + " is not [low, high]")


def _channels(s, where):
    chs = s["ch"]
    if not isinstance(chs, list) or not chs:
        _fail(where + ".ch", "needs at least one channel")
    out = []
    for i, given in enumerate(chs):
        w = where + ".ch[" + str(i) + "]"
        ch = merge(given, s["bus"] + "_ch", w)
        _name(ch["param"], w + ".param", 16)
        _text(ch["unit"], w + ".unit", 16)
        _range(ch, w)
        if s["bus"] == "modbus":
            _int_in(ch, "reg", 0, 0xFFFF, w)
            _int_in(ch, "dec_reg", -1, 0xFFFF, w)
            _one_of(ch, "type", TYPES, w)
            _one_of(ch, "order", ORDERS, w)
            if ch["scale"] == 0:
                _fail(w + ".scale", "must not be 0")
        else:
            _one_of(ch, "field", FIELDS[s["frame"]], w)
        out.append(ch)
    return out


def _sensor(given, i, uarts, seen):
    w = "sensors[" + str(i) + "]"
    if not isinstance(given, dict):
        _fail(w, "must be an object")
    bus = given.get("bus")
    if bus not in ("modbus", "stream"):
        _fail(w + ".bus", repr(bus) + " is not one of modbus, stream")
    s = merge(given, bus, w)
    _name(s["id"], w + ".id", 16)
    if s["id"] in seen:
        _fail(w + ".id", repr(s["id"]) + " appears twice")
    seen.append(s["id"])
    if s["uart"] not in uarts:
        _fail(w + ".uart", repr(s["uart"]) + " is not in uarts (" + ", ".join(uarts) + ")")
    if bus == "modbus":
        _int_in(s, "addr", 1, 247, w)
        _one_of(s, "fn", (3, 4), w)
        for key in ("timeout_ms", "turnaround_ms"):
            _int_in(s, key, 1, 10000, w)
        _int_in(s, "tries", 1, 10, w)
        _int_in(s, "offline_after", 1, 100, w)
        _int_in(s, "offline_min_s", 1, 86400, w)
        _int_in(s, "offline_max_s", s["offline_min_s"], 86400, w)
    else:
        _one_of(s, "frame", ("pms", "sds"), w)
        for key in ("warmup_s", "sample_s", "stale_s"):
            _int_in(s, key, 0, 3600, w)
    s["ch"] = _channels(s, w)
    return s


def check(given):
    """The effective config for a parsed config.json, or ConfigError naming the bad key."""
    cfg = merge(given, "config", "")
    _name(cfg["station"], "station", 32)
    _int_in(cfg, "sample_s", 1, 3600, "")
    _int_in(cfg, "report_s", cfg["sample_s"], 86400, "")
    _text(cfg["fw"], "fw", 32)
    cfg["mqtt"] = m = merge(cfg["mqtt"], "mqtt", "mqtt")
    for key in ("host", "user", "password"):
        if not isinstance(m[key], str) or not m[key]:
            _fail("mqtt." + key, "must be a non-empty string")
    _int_in(m, "port", 1, 65535, "mqtt")
    _int_in(m, "keepalive", 0, 65535, "mqtt")
    _int_in(m, "timeout_s", 1, 300, "mqtt")
    if m["tls"] != "":
        _text(m["tls"], "mqtt.tls", 200)
    cfg["wifi"] = merge(cfg["wifi"], "wifi", "wifi")
    if cfg["report_s"] // cfg["sample_s"] > 2047:
        _fail("report_s", "at most 2047 samples per period (report_s / sample_s)")
    _int_in(cfg, "health_s", 10, 86400, "")
    _int_in(cfg, "wdt_s", 10, 3600, "")
    if cfg["wdt_s"] <= 3 * m["timeout_s"]:
        _fail("wdt_s", str(cfg["wdt_s"]) + " must exceed 3 x mqtt.timeout_s (connect, status "
              "and birth may each wait that long)")
    if not isinstance(cfg["data_dir"], str):
        _fail("data_dir", "must be a string")
    cfg["clock"] = c = merge(cfg["clock"], "clock", "clock")
    if not _is_num(c["speed"]) or not 1 <= c["speed"] <= 100000:
        _fail("clock.speed", repr(c["speed"]) + " is not a number in 1..100000")
    if c["t0"] is not None and not 1704067200 <= c["t0"] <= 4102444800:
        _fail("clock.t0", repr(c["t0"]) + " is not an epoch second in 2024..2100 or null")
    _int_in(c, "valid_after_s", 0, 10 ** 9, "clock")
    _int_in(c, "ntp_every_s", 60, 10 ** 7, "clock")
    cfg["backlog"] = b = merge(cfg["backlog"], "backlog", "backlog")
    _int_in(b, "bytes", 4096, 1 << 30, "backlog")
    _int_in(b, "segments", 2, 1024, "backlog")
    _int_in(b, "batch", 1, 256, "backlog")
    _int_in(b, "msg_bytes", 512, 65536, "backlog")
    _int_in(b, "hold", 1, 1024, "backlog")
    cfg["log"] = lg = merge(cfg["log"], "log", "log")
    _one_of(lg, "level", ("debug", "info", "warn", "error"), "log")
    uarts = cfg["uarts"]
    if not isinstance(uarts, dict) or not uarts:
        _fail("uarts", "needs at least one uart")
    for name in uarts:
        w = "uarts." + name
        u = uarts[name] = merge(uarts[name], "uart", w)
        _int_in(u, "baud", 300, 1000000, w)
        _int_in(u, "bits", 7, 8, w)
        _one_of(u, "parity", ("N", "E", "O"), w)
        _int_in(u, "stop", 1, 2, w)
    sensors = cfg["sensors"]
    if not isinstance(sensors, list) or not sensors:
        _fail("sensors", "needs at least one sensor")
    seen = []
    cfg["sensors"] = out = [_sensor(s, i, uarts, seen) for i, s in enumerate(sensors)]
    for i, s in enumerate(out):
        for other in out:
            if other is not s and other["uart"] == s["uart"] and s["bus"] == "stream":
                _fail("sensors[" + str(i) + "].uart", "a streaming sensor needs its uart alone; " +
                      repr(s["uart"]) + " also carries " + other["id"])
    params = [ch["param"] for s in out for ch in s["ch"]]
    cfg["cal"] = check_cal(cfg["cal"], params)
    return cfg


def check_cal(cal, params):
    """cal: param -> {"v": int, "offset": x, "slope": y} | {"v": int, "points": [[raw, true]…]}.

    Points need strictly increasing raw values; outside them the end segments extend."""
    if not isinstance(cal, dict):
        _fail("cal", "must be an object")
    for p in cal:
        c = cal[p]
        w = "cal." + p
        if p not in params:
            _fail(w, "no sensor channel measures " + repr(p))
        if not isinstance(c, dict) or "v" not in c:
            _fail(w, repr(c) + " needs a version v and offset/slope or points")
        _int_in(c, "v", 0, 2 ** 31 - 1, w)
        keys = sorted(k for k in c if k != "v")
        if keys == ["points"]:
            pts = c["points"]
            ok = isinstance(pts, list) and 2 <= len(pts) <= 16
            last = None
            for pt in pts if ok else ():
                if not (isinstance(pt, list) and len(pt) == 2 and _is_num(pt[0])
                        and _is_num(pt[1]) and (last is None or pt[0] > last)):
                    ok = False
                    break
                last = pt[0]
            if not ok:
                _fail(w + ".points", repr(pts) + " is not 2-16 [raw, true] pairs with raw "
                      "strictly increasing")
        elif keys and all(k in ("offset", "slope") for k in keys):
            for k in keys:
                if not _is_num(c[k]):
                    _fail(w + "." + k, repr(c[k]) + " is not a number")
            if c.get("slope", 1) == 0:
                _fail(w + ".slope", "must not be 0")
        else:
            _fail(w, "needs offset and/or slope, or points (not " + ", ".join(keys) + ")")
    return cal


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ConfigError("config: cannot read " + path + " (" + str(e) + ")") from None
    except ValueError as e:
        raise ConfigError("config: " + path + " is not JSON (" + str(e) + ")") from None


def _overlay(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _overlay(base[key], value)
        else:
            base[key] = value


def load(path):
    """config.json with secrets.json beside it merged over it (passwords live apart)."""
    given = _read(path)
    secrets = (path.rsplit("/", 1)[0] + "/" if "/" in path else "") + "secrets.json"
    try:
        os.stat(secrets)
    except OSError:
        return check(given)
    _overlay(given, _read(secrets))
    return check(given)


def masked(cfg):
    """A copy of cfg safe to print: secrets replaced by ***."""
    out = {}
    for key, value in cfg.items():
        if key == "password" and value:
            value = "***"
        elif isinstance(value, dict):
            value = masked(value)
        out[key] = value
    return out
