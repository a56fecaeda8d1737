# The boot: config.json -> effective config -> HAL -> devices -> backlog, sampler, publisher,
# uplink -> a station/app.py Station. Runs once per boot; station/app.py drops this module
# afterwards, so none of its code stays on the heap.

import gc
import sys

import log
from station import health as H

FIRMWARE = "quantrac"
STREAM_IDLE_MS = 100   # with a streaming sensor: drain its UART at least this often (real ms)
IDLE_MS = 1000         # longest sleep of the main loop (station ms)


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
            devices.append(ModbusSensor(s, lines[name], hal))
        else:
            devices.append(PmSensor(s, hal.uart(name, cfg["uarts"][name]), hal))
        gc.collect()
    return devices


def columns(devices, warn=None):
    """The record's channels in config order, each told its column k and device; a parameter
    two devices carry is recorded once, from the later one (the earlier gets k = -1)."""
    cols = []
    for dev in devices:
        for ch in dev.channels:
            ch.dev = dev
            for i, other in enumerate(cols):
                if other.param == ch.param:
                    if warn:
                        warn("config " + ch.param + " comes from " + other.dev.id + " and " +
                             dev.id + "; records carry " + dev.id + "'s")
                    other.k = -1
                    cols.pop(i)
                    break
            cols.append(ch)
    for k, ch in enumerate(cols):
        ch.k = k
    return cols


def calibrating(folder, cols, win):
    """Calibration mode as station/control.py left it before the reboot (a technician's
    cal_start holds until cal_stop, whatever happens in between)."""
    import json

    try:
        with open(folder + "/calibrating.json") as f:
            params = json.load(f)
    except (OSError, ValueError):
        return
    on = [c for c in cols if isinstance(params, list) and c.param in params]
    for c in on:
        win.calibrating[c.k] = win.cal_seen[c.k] = 1
    if on:
        log.info("calibration mode kept from before the reboot: " +
                 ",".join(c.param for c in on))


def slim(cfg):
    """What the station keeps of the config once the devices are built (the full config, with
    every channel's defaults merged, is the largest object of the boot)."""
    return {k: cfg[k] for k in ("station", "fw", "sample_s", "report_s", "mqtt", "backlog",
                                "clock", "health_s", "wdt_s", "cal")}


def assemble(Station, cfg, hal, boot, config_path, health, devices, streams):
    """The Station for slim(config) and the built devices: columns, backlog, sampler,
    messages, uplink, publisher."""
    from station.backlog import Backlog
    from station.message import Messages
    from station.record import Layout
    from values.calibrate import Calibration

    cols = columns(devices, log.warn)
    b = cfg["backlog"]
    layout = Layout([c.param for c in cols], [c.unit for c in cols], b["minmax"])
    backlog = Backlog(hal.data_dir, layout, b["bytes"], b["segments"])
    cal = Calibration(cfg["cal"], [c.param for c in cols])
    size = max(layout.json_bytes, min(b["msg_bytes"], b["batch"] * layout.json_bytes))
    messages = Messages(cfg["station"], cfg["fw"], boot, size)
    gc.collect()
    from station.sampler import Sampler

    sampler = Sampler(cfg, hal, devices, cols, layout, backlog, cal)
    calibrating(hal.data_dir, cols, sampler.win)
    gc.collect()
    from station.uplink import Uplink

    uplink = Uplink(cfg, hal, boot, health.birth_fields(cal.versions).encode())
    gc.collect()
    from station.publisher import Publisher

    publisher = Publisher(backlog, uplink, messages, b["batch"])
    log.info("boot ready sensors=%d params=%d record_bytes=%d backlog=%d dropped=%d "
             "capacity=%d torn=%d" % (len(devices), len(cols), layout.size, len(backlog),
                                      backlog.dropped, backlog.per_seg * (b["segments"] - 1),
                                      backlog.torn))
    return Station(
        hal=hal, config_path=config_path, health=health, devices=devices, cols=cols,
        backlog=backlog, cal=cal, sampler=sampler, messages=messages, uplink=uplink,
        publisher=publisher, idle_ms=STREAM_IDLE_MS * hal.speed if streams else IDLE_MS,
        health_ms=cfg["health_s"] * 1000, ntp_host=cfg["clock"]["ntp_host"],
        ntp_ms=cfg["clock"]["ntp_every_s"] * 1000, wdt_ms=cfg["wdt_s"] * 1000)


def build_station(path, Station):
    """Config, HAL, banner and the station; exits 2 on a config or wiring error."""
    try:
        cfg, shown = load_config(path)
    except ValueError as e:  # ConfigError: names the key
        log.error(str(e))
        sys.exit(2)
    gc.collect()
    from binascii import hexlify

    from hal import Hal

    cfg["data_dir"] = data_dir(cfg, path, sys.platform if sys.platform == "esp32" else "unix")
    hal = Hal(cfg)
    tls = cfg["mqtt"]["tls"]
    if tls:
        from hal.common import tls_context

        folder = tls if tls.startswith("/") else (
            path.rsplit("/", 1)[0] + "/" + tls if "/" in path else tls)
        try:
            hal.sockets.tls = (tls_context(folder), cfg["mqtt"]["host"])
        except (OSError, ValueError) as e:  # missing or unreadable files: the reason, exit 2
            log.error("mqtt.tls " + folder + ": " + repr(e))
            hal.close()
            sys.exit(2)
    log.setup(cfg["log"]["level"], hal.epoch)
    boot_id = hexlify(hal.random_bytes(4)).decode()
    try:
        health = H.Health(hal)
    except OSError as e:
        log.error("data_dir " + hal.data_dir + ": " + str(e))
        sys.exit(2)
    log.info("boot %s firmware %s station=%s boot=%s reset=%s crumb=%s boots=%d platform=%s" % (
        FIRMWARE, cfg["fw"], cfg["station"], boot_id, health.cause,
        "none" if health.prev_phase is None else H.PHASES[health.prev_phase], health.boots,
        hal.platform))
    log.dump("config", shown)
    shown = None
    try:
        devices = build_devices(cfg, hal)
        streams = [s for s in cfg["sensors"] if s["bus"] == "stream"]
        cfg = slim(cfg)
        gc.collect()
        return assemble(Station, cfg, hal, boot_id, path, health, devices, streams)
    except (ValueError, OSError) as e:  # a UART that cannot be opened, a backlog folder
        log.error(str(e))
        hal.close()
        sys.exit(2)


