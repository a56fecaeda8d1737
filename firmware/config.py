# Station config: config.json merged onto defaults.DEFAULTS and checked once at boot.
#
# Every error names the key path ("sensors[2].ch[0].type") and the bad value, so a technician
# reading the boot log knows which line of config.json to fix. Nothing here runs after boot.

import json
import os

from bus.frames import FIELDS
from defaults import DEFAULTS, REQUIRED
from values.decode import ORDERS, TYPES


class ConfigError(ValueError):
    pass


# messages longer than 10 characters: shorter literals would be interned as names (qstrs) and
# stay on the heap for good, although this module leaves it after boot
_KIND = {int: " should be a number", float: " should be a number", str: " should be a string",
         dict: " should be an object", list: " should be a list"}


def _fail(path, msg):
    raise ConfigError("config: %s: %s" % (path, msg))


def _at(path, key):
    """The key path of `key` (a name, or a list index) inside `path`."""
    if isinstance(key, int):
        return "%s[%d]" % (path, key)
    return path + "." + key if path else key


def _is_num(value):
    return (isinstance(value, int) or isinstance(value, float)) and not isinstance(value, bool)


def merge(given, kind, path):
    """given (a dict from config.json) over DEFAULTS[kind]; unknown/missing keys fail."""
    if not isinstance(given, dict):
        _fail(path, "must be an object, not " + repr(given))
    template = DEFAULTS[kind]
    for key in given:
        if key not in template:
            _fail(_at(path, key),
                  "unknown key (known: " + ", ".join(sorted(template)) + ")")
    out = {}
    for key, default in template.items():
        at = _at(path, key)
        if key not in given:
            if default is REQUIRED:
                _fail(at, "missing (required)")
            out[key] = default
            continue
        value = given[key]
        if default is None:  # a number or null
            if value is not None and not _is_num(value):
                _fail(at, repr(value) + " should be a number or null")
        elif default is not REQUIRED:
            if _is_num(default):
                ok = _is_num(value)
            else:
                ok = type(value) is type(default)
            if not ok:
                _fail(at, repr(value) + _KIND.get(type(default), " is of the wrong type"))
        out[key] = value
    return out


def _int_in(cfg, key, lo, hi, path):
    v = cfg[key]
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        _fail(_at(path, key), "%r is not a whole number in %d..%d" % (v, lo, hi))


def _one_of(cfg, key, values, path):
    if cfg[key] not in values:
        _fail(_at(path, key), repr(cfg[key]) + " is not one of " +
              ", ".join([str(v) for v in values]))


# _name and _text look at bytes: iterating a str yields one-character strings, and MicroPython
# interns each distinct one as a qstr that stays on the heap for good.
def _name(v, path, limit):
    ok = isinstance(v, str) and 1 <= len(v) <= limit
    if ok:
        for b in v.encode():
            if not (97 <= b <= 122 or 48 <= b <= 57 or b == 45 or b == 95):  # a-z 0-9 - _
                ok = False
    if not ok:
        _fail(path, "%r is not a lower-case name of 1-%d characters" % (v, limit))


def _text(v, path, limit):
    """A string the encoder can put between JSON quotes as it is."""
    ok = isinstance(v, str) and 1 <= len(v) <= limit
    if ok:
        for b in v.encode():
            if not 32 <= b <= 126 or b == 34 or b == 92:  # no quote, no backslash
                ok = False
    if not ok:
        _fail(path, "%r is not 1-%d printable ASCII characters without quotes or backslashes"
              % (v, limit))


def _range(ch, path):
    r = ch["range"]
    if not (isinstance(r, list) and len(r) == 2 and _is_num(r[0]) and _is_num(r[1])
            and r[0] < r[1]):
        _fail(_at(path, "range"), repr(r) + " is not [low, high]")


def _channels(s, path):
    chs = s["ch"]
    if not isinstance(chs, list) or not chs:
        _fail(_at(path, "ch"), "needs at least one channel")
    out = []
    for i, given in enumerate(chs):
        w = _at(_at(path, "ch"), i)
        ch = merge(given, s["bus"] + "_ch", w)
        _name(ch["param"], _at(w, "param"), 16)
        _text(ch["unit"], _at(w, "unit"), 16)
        _range(ch, w)
        if s["bus"] == "modbus":
            _int_in(ch, "reg", 0, 0xFFFF, w)
            _int_in(ch, "dec_reg", -1, 0xFFFF, w)
            _int_in(ch, "err_reg", -1, 0xFFFF, w)
            _int_in(ch, "err_mask", 1, 0xFFFF, w)
            _one_of(ch, "type", TYPES.split(), w)
            _one_of(ch, "order", ORDERS.split(), w)
            if ch["scale"] == 0:
                _fail(_at(w, "scale"), "must not be 0")
            _int_in(ch, "signed", -1, 0xFFFFFFFF, w)
            for v in ch["discard"]:
                if not _is_num(v):
                    _fail(_at(w, "discard"), repr(ch["discard"]) + " is not a list of numbers")
            u = ch["code"]
            if u and not (len(u) == 2 and isinstance(u[0], int) and 0 <= u[0] <= 0xFFFF and
                          isinstance(u[1], list) and u[1] and all(
                              isinstance(c, list) and len(c) == 2 and isinstance(c[0], int) and
                              _is_num(c[1]) and c[1] != 0 for c in u[1])):
                _fail(_at(w, "code"), repr(u) + " is not [register, [[code, factor], ...]]")
        else:
            if s["frame"] in FIELDS:
                _one_of(ch, "field", FIELDS[s["frame"]].split(), w)
                if ch["scale"] != 1:
                    _fail(_at(w, "scale"),
                          "is for the hpma, hpmaqa, ze, zeqa and bm frames only")
            else:
                _one_of(ch, "field", __import__("bus.frames_more", None, None, (1,)).FIELDS[
                    s["frame"]].split(), w)
                if ch["scale"] == 0:
                    _fail(_at(w, "scale"), "must not be 0")
        out.append(ch)
    return out


def _sensor(given, idx, uarts, names):
    w = _at("sensors", idx)
    if not isinstance(given, dict):
        _fail(w, "must be an object")
    bus = given.get("bus")
    if bus not in ("modbus", "stream"):
        _fail(_at(w, "bus"), repr(bus) + " is not one of modbus, stream")
    s = merge(given, bus, w)
    _name(s["id"], _at(w, "id"), 16)
    if s["id"] in names:
        _fail(_at(w, "id"), repr(s["id"]) + " appears twice")
    names.append(s["id"])
    if s["uart"] not in uarts:
        _fail(_at(w, "uart"), repr(s["uart"]) + " is not in uarts (" + ", ".join(uarts) + ")")
    if bus == "modbus":
        _int_in(s, "addr", 1, 247, w)
        _one_of(s, "fn", (3, 4), w)
        for key in ("timeout_ms", "turnaround_ms"):
            _int_in(s, key, 1, 10000, w)
        _int_in(s, "tries", 1, 10, w)
        _int_in(s, "offline_after", 1, 100, w)
        _int_in(s, "offline_min_s", 1, 86400, w)
        _int_in(s, "offline_max_s", s["offline_min_s"], 86400, w)
        _int_in(s, "sample_s", 0, 60, w)
        if s["sample_s"] and len(s["ch"]) != 6:
            _fail(_at(w, "ch"), "a sound meter (sample_s) records 6 channels: laeq lamax lamin "
                  "l10 l50 l90 of its one level")
        # read: [[fn 3|4, register, count 1..125], ...]; send: [[fn 3|4, register, count
        # 0..125, wait_ms, once 0|1] or [16, register, [1..123 words], wait_ms, once], ...]
        # (inline, not helpers: each function name would be interned for good)
        for i, b in enumerate(s["read"]):
            if not (isinstance(b, list) and len(b) == 3 and b[0] in (3, 4) and
                    all(isinstance(x, int) and 0 <= x <= 0xFFFF for x in b) and
                    1 <= b[2] <= 125):
                _fail(_at(_at(w, "read"), i), repr(b) + " is not [fn 3|4, register, count "
                      "1..125]")
        for i, b in enumerate(s["send"]):
            ok = isinstance(b, list) and len(b) in (4, 5) and all(
                isinstance(x, int) and 0 <= x <= 0xFFFF for x in b[:2] + b[3:]) and \
                b[3] <= 60000 and (len(b) == 4 or b[4] in (0, 1))
            if ok and b[0] == 16:
                ok = isinstance(b[2], list) and 1 <= len(b[2]) <= 123 and all(
                    isinstance(x, int) and 0 <= x <= 0xFFFF for x in b[2])
            elif ok:
                ok = b[0] in (3, 4) and isinstance(b[2], int) and 0 <= b[2] <= 125
            if not ok:
                _fail(_at(_at(w, "send"), i), repr(b) + " is not [fn 3|4, register, count, "
                      "wait_ms, once] or [16, register, [words], wait_ms, once]")
    else:
        if s["frame"] in FIELDS:
            if s["match"] or s["send"]:
                _fail(w, "match and send are for the hpma, hpmaqa, ze, zeqa and bm frames "
                      "only")
        else:
            # the rarer families check their own keys, in code loaded only for them (no
            # names of theirs interned for the other stations)
            __import__("bus.frames_more", None, None, (1,)).check(s, w, _fail, _at)
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
            _fail(_at("mqtt", key), "must be a non-empty string")
    _int_in(m, "port", 1, 65535, "mqtt")
    _int_in(m, "keepalive", 0, 65535, "mqtt")
    _int_in(m, "timeout_s", 1, 300, "mqtt")
    if m["tls"] != "":
        _text(m["tls"], _at("mqtt", "tls"), 200)
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
        _fail(_at("clock", "speed"), repr(c["speed"]) + " is not a number in 1..100000")
    if c["t0"] is not None and not 1704067200 <= c["t0"] <= 4102444800:
        _fail(_at("clock", "t0"), repr(c["t0"]) + " is not an epoch second in 2024..2100 or null")
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
        w = _at("uarts", name)
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
                _fail(_at(_at("sensors", i), "uart"), "a streaming sensor needs its uart alone; " +
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
        w = _at("cal", p)
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
                _fail(_at(w, "points"), repr(pts) + " is not 2-16 [raw, true] pairs with raw "
                      "strictly increasing")
        elif keys and all(k in ("offset", "slope") for k in keys):
            for k in keys:
                if not _is_num(c[k]):
                    _fail(_at(w, k), repr(c[k]) + " is not a number")
            if c.get("slope", 1) == 0:
                _fail(_at(w, "slope"), "must not be 0")
        else:
            _fail(w, "needs offset and/or slope, or points (not " + ", ".join(keys) + ")")
    return cal


def _read(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ConfigError("config: cannot read %s (%s)" % (path, e)) from None
    except ValueError as e:
        raise ConfigError("config: %s is not JSON (%s)" % (path, e)) from None


def _overlay(base, data):
    for key, value in data.items():
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
