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
    """The birth event's own members: reset cause, breadcrumb, boots, calibration versions,
    and the slot that runs: "a" or "b" (slots.py put ".../ota/<slot>" first on sys.path), "-"
    for modules not in a slot (flashed without OTA, the unix port run from source)."""
    phase, _, uptime, cause = crumbs
    crumb = "none" if phase is None else H.PHASES[phase]
    cal = ",".join('"%s":%d' % (p, v) for p, v in cal_versions.items())
    # "-" is one of MicroPython's own names and the letter a slice: no name interned here
    here = sys.path[0]
    return ('"reset":"%s","crumb":"%s","boots":%d,"uptime_before":%d,"cal":{%s},"slot":"%s"'
            % (cause, crumb, boots, uptime, cal, here[-1] if here[-5:-2] == "ota" else "-"))


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


_POW10 = (1, 10, 100, 1000, 10000)


def encoding(lo, hi, places, dynamic):
    """(kind, P, w, low code) of a record column with range [lo, hi] and `places` decimals
    (-1: a float32 channel), station/record.py's value codes; dynamic: a decimal-point
    register may change the places at run time (up to 4), so the codes leave a margin for a
    mean rounded at fewer places."""
    if places < 0:
        if max(-lo, hi) < 9999.5:  # SIG4 (1), signed (2): d * 10000 + m, a sign bit
            span = 100000 if lo < 0 else 50000
            w = 1
            while (1 << w) - 1 < span:
                w += 1
            return 2 if lo < 0 else 1, 0, w, 0
        return 3, 0, 24, 0      # DEC24
    p = 4 if dynamic else min(4, places + 1)
    margin = _POW10[p] if dynamic else 0
    low = round(lo * _POW10[p]) - margin
    span = round(hi * _POW10[p]) + margin - low + 1  # value codes; one more is null
    w = 1
    while (1 << w) < span + 1 and w <= 24:
        w += 1
    if w > 24 or not -0x3FFFFFFF <= low <= 0x3FFFFFFF:
        return 3, 0, 24, 0
    return 0, p, w, low         # FIXED


def header(params, units, minmax, encs, p, nb):
    """A record layout's segment header: "QB", 2, flags (bit 0: min/max), u16 total length,
    count, nb, p u24, per column (len, name, len, unit, kind, P, w, low i32), CRC-16."""
    from bus.modbus_rtu import crc16
    from station.record import MAGIC, VERSION

    body = bytearray(MAGIC)
    body.append(VERSION)
    body.append(1 if minmax else 0)
    body.append(0)
    body.append(0)          # total header length, set below
    body.append(len(params))
    body.append(nb)
    body.extend(bytes((p & 0xFF, p >> 8 & 0xFF, p >> 16)))
    for i in range(len(params)):
        for name in (params[i], units[i]):
            body.append(len(name))
            body.extend(name.encode())
        kind, places, w, low = encs[i]
        body.extend(bytes((kind, places, w)))
        low &= 0xFFFFFFFF
        body.extend(bytes((low & 0xFF, low >> 8 & 0xFF, low >> 16 & 0xFF, low >> 24)))
    n = len(body) + 2
    body[4] = n & 0xFF
    body[5] = n >> 8
    c = crc16(body, 0, len(body))
    body.extend(bytes((c & 0xFF, c >> 8)))
    return bytes(body)


def layout_header(cols, minmax, report_s, nb):
    """The record layout's header for these columns: each value's code from its channel's
    range and resolution."""
    encs = []
    for c in cols:
        how = getattr(c, "how", None)  # a decimal-point register changes places at run time
        encs.append(encoding(c.rng[0], c.rng[1], c.places, how is not None and how[3] >= 0))
    return header([c.param for c in cols], [c.rng[2] for c in cols], minmax, encs, report_s, nb)


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
    layout = Layout(layout_header(cols, b["minmax"], cfg["report_s"],
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
            ch.rng = None
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
