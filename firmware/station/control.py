# Remote commands (`cmd` topic) and config (`config` topic): validated, persisted atomically,
# answered on `event` with {"ev":"ack","id":…,"ok":…} and, when refused, "why".
#
# Loaded only while a message is handled and dropped afterwards (station/app.py): the heap
# does not carry this code, nor config.py's checks, between commands.
#
#   cmd: ping | reboot | cal_start {"params": [...]} | cal_stop {"params": [...]} |
#        report_interval {"s": n} | backlog
#   config: {"set": {key: value}} with key in SETTABLE; "cal" merges per parameter (a null
#        removes one). The whole resulting config.json passes config.check or nothing changes.
#   Both may carry "exp" (UTC epoch s): refused after it. An id answered lately is answered
#   again with "dup": true and not run again (QoS 1 may deliver twice), also after a reboot:
#   the ids are kept in <data_dir>/answered.json, so a reboot command that the broker
#   delivers once more (its PUBACK lost) does not reboot the station again.

import json
import os
import sys
from micropython import const

import log

CALIBRATING = "calibrating.json"  # in data_dir: the parameters in calibration mode; read at
# boot (station/assemble.py), so a reboot during a calibration keeps flagging status 01
_ANSWERED = const(8)  # ids remembered, so a message the broker delivers twice runs once
CMDS = ("ping", "reboot", "cal_start", "cal_stop", "report_interval", "backlog")
SETTABLE = ("sample_s", "report_s", "cal", "health_s", "log")


class Refused(ValueError):
    pass


def handle(station, leaf, payload):
    """(ack fields as a JSON fragment, reboot requested)."""
    ident = None
    try:
        try:
            msg = json.loads(payload)
        except ValueError:
            raise Refused("not JSON") from None
        if not isinstance(msg, dict):
            raise Refused("not a JSON object")
        ident = msg.get("id")
        if not isinstance(ident, str) or not 1 <= len(ident) <= 32:
            ident = None
            raise Refused("id: must be a string of 1-32 characters")
        if msg.get("v") != 1:
            raise Refused("v: must be 1")
        for seen, ok in station.answered:
            if seen == ident:  # delivered again (at least once): answered, not run twice
                return ',"id":%s,"ok":%s,"dup":true' % (json.dumps(ident), json.dumps(ok)), False
        _fresh(station, msg.get("exp"))
        if leaf == b"cmd":
            extra, reboot = command(station, msg)
        else:
            extra, reboot = configure(station, msg.get("set"))
        _answered(station, ident, True)
        return ',"id":%s,"ok":true%s' % (json.dumps(ident), extra), reboot
    except Refused as e:
        if ident is not None:
            _answered(station, ident, False)
        return ',"id":%s,"ok":false,"why":%s' % (json.dumps(ident), json.dumps(str(e))), False
    except MemoryError:
        return ',"id":%s,"ok":false,"why":"out of memory, try again"' % json.dumps(ident), False


def _write(path, text):
    """Replace the file at `path` whole or not at all (power may fail at any byte)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _fresh(station, exp):
    """Refuse a message past its `exp` (UTC epoch s): one that waited at the broker while the
    station was offline may no longer be wanted. Without a valid clock it cannot be judged."""
    if exp is None:
        return
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise Refused("exp: must be UTC epoch seconds")
    now = station.hal.epoch()
    if now is not None and now > exp:
        raise Refused("expired %d s ago" % (now - exp))


def _answered(station, name, value):  # argument names MicroPython interns already
    station.answered.append((name, value))
    if len(station.answered) > _ANSWERED:
        station.answered.pop(0)
    try:
        _write(station.hal.data_dir + "/answered.json", json.dumps(station.answered))
    except OSError as e:  # answered all the same; only a redelivery after a reboot would run
        log.warn("answered.json not written: %s" % e)


def _params(station, args):
    names = [c.param for c in station.cols]
    want = args.get("params", names)
    if not isinstance(want, list) or not want:
        raise Refused("args.params: must be a non-empty list of parameters")
    for p in want:
        if p not in names:
            raise Refused("args.params: %r is not measured here (%s)" % (p, ", ".join(names)))
    return [names.index(p) for p in want]


def command(station, msg):
    cmd = msg.get("cmd")
    args = msg.get("args", {})
    if cmd not in CMDS:
        raise Refused("cmd: %r is not one of %s" % (cmd, ", ".join(CMDS)))
    if not isinstance(args, dict):
        raise Refused("args: must be an object")
    extra = ',"cmd":"%s"' % cmd
    if cmd == "ping":
        return extra + ',"uptime":%d' % station.uptime_s(), False
    if cmd == "reboot":
        return extra, True
    if cmd in ("cal_start", "cal_stop"):
        on = cmd == "cal_start"
        win = station.sampler.win
        ks = _params(station, args)
        for k in ks:
            win.calibrating[k] = 1 if on else 0
            if on:
                win.cal_seen[k] = 1
        _write(station.hal.data_dir + "/" + CALIBRATING,
               json.dumps([c.param for c in station.cols if win.calibrating[c.k]]))
        return extra + ',"params":%s' % json.dumps([station.cols[k].param for k in ks]), False
    if cmd == "report_interval":
        s = args.get("s")
        if not isinstance(s, int) or isinstance(s, bool):
            raise Refused("args.s: must be a whole number of seconds")
        return extra + configure(station, {"report_s": s})[0], False
    bl = station.backlog
    oldest = "null"
    if len(bl):
        s = bl.peek(0)
        oldest = str(s[0] | s[1] << 8 | s[2] << 16 | s[3] << 24)
    return extra + (',"backlog":{"queued":%d,"dropped":%d,"held":%d,"segments":%d,'
                    '"record_bytes":%d,"capacity":%d,"oldest":%s}' % (
                        len(bl), bl.dropped, len(station.sampler.hold), len(bl.segs),
                        bl.cur.size, bl.per_seg * (bl.max_segs - 1), oldest)), False


def configure(station, changes):
    """Check the config.json that `changes` would make; persist it atomically and apply it."""
    if not isinstance(changes, dict) or not changes:
        raise Refused("set: must be an object with at least one key")
    for key in changes:
        if key not in SETTABLE:
            raise Refused("set.%s: cannot be set remotely (only %s)" % (key, ", ".join(SETTABLE)))
    with open(station.config_path) as f:
        raw = json.load(f)
    for key, value in changes.items():
        if key == "cal" and isinstance(value, dict):
            cal = raw.get("cal", {})
            for p in value:
                if value[p] is None:
                    cal.pop(p, None)
                else:
                    cal[p] = value[p]
            value = cal
        raw[key] = value
    # The new file is checked exactly as the next boot will read it: written beside
    # config.json and loaded with secrets.json merged over it (config.json itself holds no
    # password on a flashed board), then renamed over config.json only if it passes.
    tmp = station.config_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(raw, f)
    raw = None
    import config  # noqa: I001 (the checks: loaded for this message only)

    try:
        checked = config.load(tmp)
    except config.ConfigError as e:
        os.remove(tmp)
        raise Refused(str(e).replace(tmp, station.config_path)) from None
    finally:
        for name in ("config", "defaults"):
            sys.modules.pop(name, None)
    os.rename(tmp, station.config_path)
    station.apply(checked, changes)
    return ',"applied":%s' % json.dumps(sorted(changes)), False
