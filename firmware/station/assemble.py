# The boot's second half: the devices and config station/boot.py prepared -> record columns,
# backlog, sampler, messages, uplink, publisher -> a station/app.py Station. Loaded once
# station/boot.py has been dropped, and dropped itself once the Station stands.

import gc
import sys
from micropython import const

import log
from station import health as H
from station.app import unload

# with a streaming sensor: drain its UART at least this often (real ms)
_STREAM_IDLE_MS = const(100)
_IDLE_MS = const(1000)  # longest sleep of the main loop (station ms)


def birth_fields(crumbs, boots, cal_versions):
    """The birth event's own members: reset cause, breadcrumb, boots, calibration versions."""
    phase, _, uptime, cause = crumbs
    crumb = "none" if phase is None else H.PHASES[phase]
    cal = ",".join('"%s":%d' % (p, v) for p, v in cal_versions.items())
    return '"reset":"%s","crumb":"%s","boots":%d,"uptime_before":%d,"cal":{%s}' % (
        cause, crumb, boots, uptime, cal)


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
                        warn("config %s comes from %s and %s; records carry %s's" % (
                            ch.param, other.dev.id, dev.id, dev.id))
                    other.k = -1
                    cols.pop(i)
                    break
            cols.append(ch)
    for k, ch in enumerate(cols):
        ch.k = k
    return cols


def header(cols, minmax, report_s, nb):
    """The record layout's header for these columns: each value's code from its channel's
    range and resolution (station/record.py encoding())."""
    from station.record import encoding, header

    encs = []
    for c in cols:
        how = getattr(c, "how", None)  # a decimal-point register changes places at run time
        encs.append(encoding(c.rng[0], c.rng[1], c.places, how is not None and how[3] >= 0))
    return header([c.param for c in cols], [c.unit for c in cols], minmax, encs, report_s, nb)


def read(folder, name):
    """What station/control.py left in <data_dir>/name (JSON), or None when it is missing or
    unreadable."""
    import json

    try:
        with open(folder + "/" + name) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def calibrating(folder, cols, win):
    """Calibration mode as station/control.py left it before the reboot (a technician's
    cal_start holds until cal_stop, whatever happens in between)."""
    params = read(folder, "calibrating.json")
    on = [c for c in cols if isinstance(params, list) and c.param in params]
    for c in on:
        win.calibrating[c.k] = win.cal_seen[c.k] = 1
    if on:
        log.info("calibration mode kept from before the reboot: " +
                 ",".join(c.param for c in on))


def answered(folder):
    """The (id, ok) of the commands answered before the reboot (station/control.py), so that
    one the broker delivers again is recognised; none when the file is missing or bad."""
    try:
        return [(i, ok) for i, ok in read(folder, "answered.json")
                if isinstance(i, str) and isinstance(ok, bool)]
    except (ValueError, TypeError):  # not a list of pairs (None included)
        return []


def station(Station, parts):
    """The Station for what station/boot.py prepare() handed over; exits 2 when the backlog
    folder cannot be used."""
    hal = parts[1]
    try:
        return assemble(Station, *parts)
    except (ValueError, OSError) as e:  # a backlog folder that cannot be made or read
        log.error(str(e))
        hal.close()
        sys.exit(2)


def assemble(Station, cfg, hal, boot, config_path, health, crumbs, devices, streams):
    """The Station for slim(config) and the built devices: columns, backlog, sampler,
    messages, uplink, publisher."""
    from station.backlog_open import open_backlog
    from station.message import Messages
    from station.record import Layout, n_bits
    from values.calibrate import Calibration

    cols = columns(devices, log.warn)
    b = cfg["backlog"]
    layout = Layout(header(cols, b["minmax"], cfg["report_s"],
                           n_bits(cfg["report_s"] // cfg["sample_s"])))
    backlog = open_backlog(hal.data_dir, layout, b["bytes"], b["segments"])
    open_backlog = None
    unload("station.backlog_open")  # boot-only: recovery runs once
    cal = Calibration(cfg["cal"], [c.param for c in cols])
    size = max(layout.json_bytes, min(b["msg_bytes"], b["batch"] * layout.json_bytes))
    messages = Messages(cfg["station"], cfg["fw"], boot, size)
    gc.collect()
    from station.sampler import Sampler

    sampler = Sampler(cfg, hal, devices, cols, layout, backlog, cal)
    calibrating(hal.data_dir, cols, sampler.win)
    # ranges and units now live in the windows and the layout: the channels let go of the
    # config's lists and strings (~1 KB)
    for dev in devices:
        for ch in dev.channels:
            ch.rng = ch.unit = None
    gc.collect()
    from station.uplink import Uplink

    uplink = Uplink(cfg, hal, boot, birth_fields(crumbs, health.boots, cal.versions).encode())
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
        publisher=publisher, idle_ms=_STREAM_IDLE_MS * hal.speed if streams else _IDLE_MS,
        health_ms=cfg["health_s"] * 1000, ntp_host=cfg["clock"]["ntp_host"],
        ntp_ms=cfg["clock"]["ntp_every_s"] * 1000, wdt_ms=cfg["wdt_s"] * 1000,
        answered=answered(hal.data_dir))
