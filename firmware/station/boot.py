# The boot's first half: config.json -> effective config -> HAL -> breadcrumbs -> devices.
# station/assemble.py makes the Station of what this hands over (station/app.py build());
# each half is dropped once it has run, this one before the other is loaded, so neither's
# code stays on the heap and the boot's peak carries only one of them.

import gc
import sys

import log
from station import health as H
from station.app import unload

FIRMWARE = "quantrac"


def load_config(path):
    """(effective config, a copy with secrets masked for the banner). Raises ValueError
    naming the key.

    The checking code runs once per boot, so its bytecode is handed back to the heap before
    the station's buffers are allocated."""
    import config

    try:
        cfg = config.load(path)
        shown = config.masked(cfg)
    finally:
        for name in ("config", "defaults"):
            sys.modules.pop(name, None)
    return cfg, shown


def boot_crumbs(hal):
    """(the phase the station was in when the last boot ended or None, boots so far, its
    uptime s, the reset cause) from the breadcrumbs station/health.py wrote."""
    import struct

    from bus.modbus_rtu import crc16

    prev = None
    b = hal.rtc_mem()
    if b and len(b) >= 14 and crc16(b, 0, 12) == b[12] | b[13] << 8:
        magic, phase, _, boots, uptime = struct.unpack(H.FMT, b[:12])
        if magic == b"QC" and phase < len(H.PHASES):
            prev = phase, boots, uptime
    phase = prev[0] if prev else None
    cause = hal.reset_cause()
    if phase == H.REBOOT:
        cause = "command"            # the reboot command, whatever the chip calls it
    elif phase is not None and phase != H.STOP and cause == "power_on" and \
            hal.platform == "unix":
        cause = "hard"               # the process died while running (a kill, a crash)
    return phase, prev[1] if prev else 0, prev[2] if prev else 0, cause


def data_dir(cfg, path, platform):
    """Relative data_dir (and the default "data") sit beside config.json on the unix port."""
    d = cfg["data_dir"] or ("data" if platform == "unix" else "/data")
    if d.startswith("/"):
        return d
    base = path.rsplit("/", 1)[0] if "/" in path else "."
    return base + "/" + d


def build_devices(cfg, hal):
    from bus.rs485 import Rs485
    from devices.modbus_sensor import ModbusSensor
    from devices.pm_sensor import PmSensor

    lines = {}
    devices = []
    for s in cfg["sensors"]:
        name = s["uart"]
        if s["bus"] == "modbus":
            if name not in lines:
                lines[name] = Rs485(hal.uart(name, cfg["uarts"][name]), hal)
            cls = ModbusSensor
            if s["sample_s"]:  # a sound meter: its code loads only when a station has one
                from devices.sound import SoundMeter as cls
            elif s["read"] or s["send"] or any(
                    ch["signed"] or ch["discard"] or ch["code"] for ch in s["ch"]):
                # several reads, actions or rare encodings: their code loads only when used
                # (2 names interned; the getattr(__import__(...)) form saves them but keeps
                # 32 B more on the heap after boot, measured)
                from devices.modbus_quirks import QuirkSensor as cls
            devices.append(cls(s, lines[name], hal))
        else:
            cls = PmSensor
            if s["frame"] not in ("pms", "sds"):
                # hpma, hpmaqa, ze, zeqa, bm: loaded only when used, and by long strings,
                # which are not interned as names for the stations that never load it
                cls = getattr(__import__("devices.stream_more", None, None, (1,)),
                              "MoreStreamSensor")
            devices.append(cls(s, hal.uart(name, cfg["uarts"][name]), hal))
        gc.collect()
    return devices


def slim(cfg):
    """What the station keeps of the config once the devices are built (the full config, with
    every channel's defaults merged, is the largest object of the boot)."""
    return {k: cfg[k] for k in ("station", "fw", "sample_s", "report_s", "mqtt", "backlog",
                                "clock", "health_s", "wdt_s", "cal")}


def prepare(path):
    """Config, HAL, breadcrumbs, banner and devices: what station/assemble.py station()
    takes; exits 2 on a config or wiring error."""
    try:
        cfg, shown = load_config(path)
    except ValueError as e:  # ConfigError: names the key
        log.error(str(e))
        sys.exit(2)
    if sys.path[0][-5:-2] == "ota":  # a slot runs (slots.py): its bundle's version
        with open("/".join((sys.path[0], "version"))) as f:  # names interned already
            cfg["fw"] = f.read().strip()
    gc.collect()
    from binascii import hexlify

    from hal import Hal

    cfg["data_dir"] = data_dir(cfg, path, sys.platform if sys.platform == "esp32" else "unix")
    hal = Hal(cfg)
    tls = cfg["mqtt"]["tls"]
    if tls:
        from hal.tls_context import context as tls_context

        folder = tls if tls.startswith("/") else (
            path.rsplit("/", 1)[0] + "/" + tls if "/" in path else tls)
        try:
            hal.sockets.tls = (tls_context(folder), cfg["mqtt"]["host"])
        except (OSError, ValueError) as e:  # missing or unreadable files: the reason, exit 2
            log.error("mqtt.tls %s: %r" % (folder, e))
            hal.close()
            sys.exit(2)
        finally:
            unload("hal.tls_context")
    log.setup(cfg["log"]["level"], hal.epoch)
    boot_id = hexlify(hal.random_bytes(4)).decode()
    try:
        crumbs = boot_crumbs(hal)
        health = H.Health(hal, crumbs[1] + 1)
    except OSError as e:
        log.error("data_dir %s: %s" % (hal.data_dir, e))
        sys.exit(2)
    log.info("boot %s firmware %s station=%s boot=%s reset=%s crumb=%s boots=%d platform=%s" % (
        FIRMWARE, cfg["fw"], cfg["station"], boot_id, crumbs[3],
        "none" if crumbs[0] is None else H.PHASES[crumbs[0]], health.boots, hal.platform))
    log.dump("config", shown)
    shown = None
    try:
        devices = build_devices(cfg, hal)
    except (ValueError, OSError) as e:  # a UART that cannot be opened
        log.error(str(e))
        hal.close()
        sys.exit(2)
    # a stream to drain or a sound meter to read every second: the loop wakes often
    streams = any(s["bus"] == "stream" or s["sample_s"] for s in cfg["sensors"])
    return (slim(cfg), hal, boot_id, path, health, crumbs, devices, streams)
