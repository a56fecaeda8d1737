# Commissioning, run ON the station's board (MicroPython) through the raw REPL by
# `quantrac station commission`; never imported on the laptop. The laptop prepends one line,
# PARAMS = {...}, and reads every result as a line "QT:" + JSON as it happens, so a board that
# dies half-way still leaves what it found.
#
# It uses the firmware already on the board: config.check for config.json (secrets.json merged
# over it), its bus and device classes and each device's sample() to read every sensor once,
# and umqtt.simple through the HAL's sockets to log in as the station and publish a test
# record (an event "commission" carrying the readings) on its own event topic.
#
# MicroPython has no zip(strict=), contextlib.suppress or exception chaining worth the bytes:
# ruff: noqa: B904, B905, SIM105, UP031

import gc
import json

PARAMS = globals().get("PARAMS", {})
# set by quantrac/field/commission.py from collector.services.mosquitto, which makes the account
COMMISSION_SUFFIX = globals().get("COMMISSION_SUFFIX", ".commission")


def say(kind, doc):
    doc["k"] = kind
    print("QT:" + json.dumps(doc))


def merge(base, extra):
    for key in extra:
        if isinstance(extra[key], dict) and isinstance(base.get(key), dict):
            merge(base[key], extra[key])
        else:
            base[key] = extra[key]


def load_config():
    try:
        with open("config.json") as f:
            raw = json.load(f)
    except OSError:
        raise ValueError("no config.json on the board: run `quantrac station flash`")
    try:
        with open("secrets.json") as f:
            merge(raw, json.load(f))
    except OSError:
        say("note", {"why": "no secrets.json on the board: run `quantrac station credentials`"})
    import sys

    import config

    try:
        return config.check(raw)
    finally:  # the checker is big; the firmware drops it after boot too
        for name in ("config", "defaults"):
            sys.modules.pop(name, None)
        gc.collect()


def mqtt_why(e, simple):
    if isinstance(e, simple.MQTTException):
        code = e.args[0] if e.args else -1
        return {4: "refused: bad user name or password",
                5: "refused: not authorized (wrong password, or no account for this station: "
                   "`quantrac station credentials`)"}.get(
            code, "refused by the broker (code %r)" % (code,))
    if isinstance(e, OSError) and e.args and e.args[0] in (111, 104):
        return "connection refused or reset: is the broker listening there?"
    return repr(e)


def read_sensors(cfg, hal):
    """One live reading per configured sensor; the event's data block."""
    for s in cfg["sensors"]:
        if s["bus"] == "stream":
            s["warmup_s"] = 0  # a reading to check the wiring, not a measurement
    from station.boot import build_devices  # the firmware's own wiring, as at its boot

    devices = build_devices(cfg, hal)
    data = {}
    for s, dev in zip(cfg["sensors"], devices):
        t0 = hal.ticks_ms()
        ok = False
        while True:
            try:
                ok = dev.sample(hal.ticks_ms())
            except Exception as e:  # noqa: BLE001 - a broken driver is a finding, not a crash
                dev.last_error = repr(e)
            if ok or hal.ticks_diff(hal.ticks_ms(), t0) > PARAMS.get("sensor_wait_ms", 8000):
                break
            hal.sleep_ms(200)
        values = []
        for ch, v in zip(s["ch"], dev.values):
            value = v if ok else None
            values.append([ch["param"], ch["unit"], value])
            lo, hi = ch["range"]
            flags = 1 if value is not None and not lo <= value <= hi else 0
            data[ch["param"]] = [value, ch["unit"], 0 if ok else 2, 1 if ok else 0, flags]
        why = "" if ok else (getattr(dev, "last_error", "") or "no valid frame")
        say("sensor", {"id": s["id"], "model": s.get("model", ""), "bus": s["bus"],
                       "uart": s["uart"], "addr": s.get("addr"), "ok": ok, "why": why,
                       "values": values})
        gc.collect()
    return data


def mqtt_check(cfg, hal, boot, data):
    m = cfg["mqtt"]
    where = {"host": m["host"], "port": m["port"], "user": m["user"]}
    t0 = hal.ticks_ms()
    while not hal.net_up():
        if hal.ticks_diff(hal.ticks_ms(), t0) > PARAMS.get("net_wait_ms", 20000):
            where.update(step="network", ok=False, why="no network link (Wi-Fi ssid in "
                         "config.json, its password in secrets.json?)")
            say("mqtt", where)
            return
        hal.sleep_ms(250)
    if m.get("tls"):  # as the firmware's boot does: our CA and the station's certificate
        try:
            from hal.tls_context import context

            hal.sockets.tls = (context(m["tls"]), m["host"])
        except (OSError, ValueError) as e:
            where.update(step="tls", ok=False, why="TLS files in %s/: %r (run `quantrac "
                         "station credentials --tls`, then flash)" % (m["tls"], e))
            say("mqtt", where)
            return
    import umqtt.simple as simple

    simple.socket = hal.sockets  # sockets with a timeout (see firmware/station/uplink.py)
    # The board's own login is bound to the station id, whose persistent session holds the
    # station's queued commands: the check logs in as the station's commissioning account
    # (same password, its own client id) so it neither wipes nor consumes them.
    login = m["user"] + COMMISSION_SUFFIX
    c = simple.MQTTClient(login, m["host"], m["port"], login, m["password"], keepalive=30)
    try:
        c.connect()
    except Exception as e:  # noqa: BLE001
        where.update(step="connect", ok=False, why=mqtt_why(e, simple))
        say("mqtt", where)
        return
    where.update(step="connect", ok=True)
    say("mqtt", where)
    topic = "quantrac/v1/" + cfg["station"] + "/event"
    doc = {"v": 1, "st": cfg["station"], "boot": boot, "ev": "commission", "t": hal.epoch(),
           "fw": cfg["fw"], "d": data}
    try:
        c.publish(topic.encode(), json.dumps(doc).encode(), False, 1)
        say("mqtt", {"step": "publish", "ok": True, "topic": topic, "boot": boot})
    except Exception as e:  # noqa: BLE001
        say("mqtt", {"step": "publish", "ok": False, "topic": topic, "why": mqtt_why(e, simple)})
    try:
        c.disconnect()
    except Exception:  # noqa: BLE001 - the record is out; a dirty close costs nothing
        pass


def board_id():
    try:
        import machine

        return "".join("%02x" % b for b in machine.unique_id())
    except (ImportError, AttributeError):
        return ""


def commission():
    try:
        cfg = load_config()
    except ValueError as e:
        say("fail", {"step": "config", "why": str(e)})
        return
    from binascii import hexlify

    from hal import Hal

    hal = Hal(cfg)
    boot = hexlify(hal.random_bytes(4)).decode()
    say("board", {"station": cfg["station"], "fw": cfg["fw"], "platform": hal.platform,
                  "uid": board_id(), "free": gc.mem_free(), "boot": boot})
    try:
        try:
            data = read_sensors(cfg, hal)
        except (ValueError, OSError, ImportError, AttributeError, TypeError) as e:
            say("fail", {"step": "sensors", "why": repr(e)})
            data = {}
        mqtt_check(cfg, hal, boot, data)
    finally:
        hal.close()
    gc.collect()
    say("done", {"free": gc.mem_free()})


commission()
