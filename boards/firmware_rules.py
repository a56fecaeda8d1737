"""What the station firmware refuses at boot, refused here when a boards/ file is read.

A catalog model, a profile or a registry entry the firmware cannot run must fail at
`quantrac station build` (and wherever the registry is loaded), naming the file and the key,
not on the pole with exit code 2. Each rule below mirrors one refusal of the firmware, named
beside it; the limits are the firmware's own values, and tests hold the shared ones equal to
its source (tests/boards/test_firmware_rules.py) and show the firmware refusing what this
module refuses.

Kept apart from the catalog's schema checks in boards/__init__.py (`_check_model`): those say
what a model file may hold, these what a station built from it can run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from boards import BoardsError

# hal/unix_line.py SPEEDS: the line speeds the unix port can set (an ESP32 sets any; the
# catalog keeps to the standard ones so one config runs on both)
BAUD_RATES = (300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400,
              460800, 500000, 576000, 921600, 1000000)
# firmware/defaults.py "uart": a line no model sets is 9600 8N1
LINE_DEFAULTS = {"baud": 9600, "bits": 8, "parity": "N", "stop": 1}
PARITIES = ("N", "E", "O")
# bus/modbus_rtu.py MAX_READ: registers in one read (devices/modbus_sensor.py refuses a model
# whose channels span more)
MAX_READ = 125
# values/decode.py WIDTH: registers per register type
WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")  # values/decode.py ORDERS (16-bit types too)
MAX_SAMPLES = 2047  # config.py: at most 2047 samples a period (report_s / sample_s)
NAME = re.compile(r"[a-z0-9_-]{1,16}")        # config.py _name(…, 16): sensor ids, params
TEXT = re.compile(r'[\x20-\x7e]{1,16}')       # config.py _text(…, 16): units, no " or \


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise BoardsError(f"{where}: {msg}")


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int_in(d: dict, key: str, lo: int, hi: int, where: str, required: bool = True) -> None:
    if key not in d and not required:
        return
    v = d.get(key)
    _need(_int(v) and lo <= v <= hi, f"{where}.{key}", f"{v!r} is not a whole number in {lo}..{hi}")


def line(spec: dict) -> dict:
    """A model's serial line (baud, bits, parity, stop) with the firmware's defaults."""
    return {**LINE_DEFAULTS, **spec.get("serial", {})}


def register_span(channels: list[dict]) -> tuple[int, int]:
    """(first register, count) of the one read covering every channel's registers, decimal
    point and error registers: devices/modbus_sensor.py block()."""
    lo, hi = 0x10000, -1
    for ch in channels:
        regs = [ch["register"], ch["register"] + WIDTH.get(ch.get("type"), 1) - 1]
        regs += [ch[k] for k in ("decimals_register", "error_register", "unit_register")
                 if _int(ch.get(k))]
        lo, hi = min(lo, *regs), max(hi, *regs)
    return lo, hi - lo + 1


def check_model(m: dict, where: str) -> None:
    """One catalog model (already through boards._check_model) against the firmware's boot
    checks: its serial line, Modbus or stream settings, channel units, scales and span."""
    serial = m.get("serial", {})
    _need(isinstance(serial, dict), f"{where}: serial", f"{serial!r} is not an object")
    for key in serial:
        _need(key in LINE_DEFAULTS, f"{where}: serial.{key}",
              f"unknown key (known: {', '.join(LINE_DEFAULTS)})")
    baud = serial.get("baud", LINE_DEFAULTS["baud"])
    _need(_int(baud) and baud in BAUD_RATES, f"{where}: serial.baud",
          f"{baud!r} is not a standard speed ({', '.join(map(str, BAUD_RATES))})")
    _int_in(serial, "bits", 7, 8, f"{where}: serial", required=False)
    _int_in(serial, "stop", 1, 2, f"{where}: serial", required=False)
    parity = serial.get("parity", "N")
    _need(parity in PARITIES, f"{where}: serial.parity",
          f"{parity!r} is not one of {', '.join(PARITIES)}")
    for i, ch in enumerate(m["channels"]):
        w = f"{where}: channels[{i}]"
        unit = ch.get("unit")
        _need(isinstance(unit, str) and TEXT.fullmatch(unit) is not None and '"' not in unit
              and "\\" not in unit, w + ".unit",
              f"{unit!r} is not 1-16 printable ASCII characters without quotes or backslashes")
        if m["bus"] != "modbus":
            continue
        for key, default in (("scale", 1), ("offset", 0)):
            v = ch.get(key, default)
            _need(_num(v), f"{w}.{key}", f"{v!r} is not a number")
        _need(ch.get("scale", 1) != 0, w + ".scale", "must not be 0")
        _need(ch.get("order", "ABCD") in ORDERS, w + ".order",
              f"{ch.get('order')!r} is not one of {', '.join(ORDERS)}")
        _int_in(ch, "decimals_register", 0, 0xFFFF, w, required=False)
    if m["bus"] == "modbus":
        mb = m["modbus"]
        _int_in(mb, "default_address", 1, 247, f"{where}: modbus")
        _int_in(mb, "timeout_ms", 1, 10000, f"{where}: modbus")
        _int_in(mb, "turnaround_ms", 1, 10000, f"{where}: modbus")
        # config.py: a sensor's own sample_s is 0 (the station's) or 1..60, and one that has
        # it is a sound meter of six channels (devices/sound.py)
        if "sound" in m:
            _int_in(m["sound"], "sample_s", 1, 60, f"{where}: sound")
            _need(len(m["channels"]) == 6, f"{where}: channels",
                  "a sound meter has six channels (laeq lamax lamin l10 l50 l90)")
        # a model read in several blocks has each block checked with them
        # (boards._check_register_quirks); one read covers the channels of any other
        base, count = register_span(m["channels"])
        _need(bool(mb.get("blocks")) or count <= MAX_READ, f"{where}: channels",
              f"span {count} registers ({base}..{base + count - 1}), more than one read "
              f"({MAX_READ}): the firmware refuses the model at boot")
    else:
        st = m["stream"]
        for key in ("warmup_s", "sample_s"):
            _int_in(st, key, 0, 3600, f"{where}: stream")
        _check_stream_keys(m, where)


def _check_stream_keys(m: dict, where: str) -> None:
    """The firmware's checks of `match`, `send` and a stream channel's `scale`
    (bus/frames_more.py check(), config.py), plus the command bytes' own checksums, so a
    typo in a datasheet command is refused here and not sent to a sensor."""
    st, kind = m["stream"], m["stream"]["frame"]
    more = kind in ("hpma", "hpmaqa", "ze", "zeqa", "bm")
    for key in ("match", "send"):
        _need(more or not st.get(key), f"{where}: stream.{key}",
              "is for the hpma, hpmaqa, ze, zeqa and bm frames only")
    for i, ch in enumerate(m["channels"]):
        v = ch.get("scale", 1)
        _need(_num(v) and v != 0 and (more or v == 1), f"{where}: channels[{i}].scale",
              f"{v!r}: a non-zero number, and only for the hpma, hpmaqa, ze, zeqa and bm "
              "frames")
    for i, x in enumerate(st.get("match", [])):
        w = f"{where}: stream.match[{i}]"
        _need(isinstance(x, dict) and _int(x.get("position")) and 1 <= x["position"] <= 7
              and _int(x.get("byte")) and 0 <= x["byte"] <= 255, w,
              f"{x!r} is not {{position 1..7, byte 0..255}}")
    _need(kind != "ze" or any(x["position"] == 1 for x in st.get("match", [])),
          f"{where}: stream.match", "a ze frame is told by the gas code at byte 1: give it")
    _check_frame_length(m, where)
    for i, c in enumerate(st.get("send", [])):
        w = f"{where}: stream.send[{i}]"
        _need(isinstance(c, dict) and _int(c.get("every_ms")) and
              0 <= c["every_ms"] <= 600000, w + ".every_ms",
              f"{c.get('every_ms') if isinstance(c, dict) else c!r} is not 0..600000")
        try:
            data = bytes.fromhex(c.get("bytes", ""))
        except (TypeError, ValueError):
            data = b""
        _need(1 <= len(data) <= 32, w + ".bytes", f"{c.get('bytes')!r} is not 1..32 hex bytes")
        # ZE commands: 0xFF, then a checksum of bytes 1..7; HPMA: of every byte before it
        first = 1 if kind in ("ze", "zeqa") else 0
        _need(-sum(data[first:-1]) & 0xFF == data[-1], w + ".bytes",
              f"{c['bytes']!r}: the last byte is not the two's complement of the sum of the "
              f"bytes from {first} on ({-sum(data[first:-1]) & 0xFF:02X})")


def frame_length(st: dict) -> int | None:
    """The length a bm frame's word (bytes 2-3) or an hpmaqa reply's byte 1 gives (the
    frame is that plus 4, or plus 3), from the model's `match`; None for other families."""
    given = {x["position"]: x["byte"] for x in st.get("match", [])}
    if st["frame"] == "bm":
        return given[2] << 8 | given[3] if 2 in given and 3 in given else -1
    return given.get(1, 5) if st["frame"] == "hpmaqa" else None


def _check_frame_length(m: dict, where: str) -> None:
    """bus/frames_more.py check(): a bm frame's length word and an hpmaqa reply's length byte
    are match bytes the firmware sizes the frame from; every channel's word lies inside."""
    st = m["stream"]
    n = frame_length(st)
    if n is None:
        return
    if st["frame"] == "bm":
        _need(n % 2 == 0 and 4 <= n <= 36, f"{where}: stream.match",
              "a bm frame is told by its length word: give positions 2 (0) and 3 (the "
              "length, even, 4..36)")
    else:
        _need(n % 2 == 1 and 5 <= n <= 13, f"{where}: stream.match",
              f"an hpmaqa reply's length byte at position 1 is odd, 5..13, not {n}")
    for i, ch in enumerate(m["channels"]):
        f = ch.get("field")
        if not isinstance(f, str) or not re.fullmatch(r"pm2_5|pm10|[ws]\d+", f):
            continue  # not a word of the frame: boards._check_model says so
        at = {"pm2_5": 3, "pm10": 5}.get(f) or int(f[1:])
        _need(at <= n, f"{where}: channels[{i}].field",
              f"{f!r} is past the end of a frame of length {n}")


def check_station(sensors: list[dict], sample_s: Any, report_s: Any,
                  where: Callable[[int | None, str], str]) -> None:
    """A station's resolved sensors (boards.Station.sensors()) and its sampling against the
    firmware's boot checks and what one line can carry. `where(i, key)` names the file and key
    of sensor i's `key` (i None: a key of the station's sampling)."""
    _need(_int(sample_s) and 1 <= sample_s <= 3600, where(None, "sample_s"),
          f"{sample_s!r} is not a whole number in 1..3600")
    _need(_int(report_s) and sample_s <= report_s <= 86400, where(None, "report_s"),
          f"{report_s!r} is not a whole number in {sample_s}..86400")
    _need(report_s // sample_s <= MAX_SAMPLES, where(None, "report_s"),
          f"{report_s} s / {sample_s} s is more than {MAX_SAMPLES} samples a period")
    from boards import param_names

    ids: list[str] = []
    carried: dict[str, str] = {}   # recorded parameter -> the sensor carrying it
    lines: dict[str, int] = {}   # uart -> index of the first sensor on it
    param_names.check_primary(sensors, where)
    addrs: dict[tuple[str, int], str] = {}
    for i, s in enumerate(sensors):
        sid = s.get("id")
        _need(isinstance(sid, str) and NAME.fullmatch(sid) is not None, where(i, "id"),
              f"{sid!r} is not a lower-case name of 1-16 characters")
        _need(sid not in ids, where(i, "id"), f"{sid!r} appears twice")
        ids.append(sid)
        spec = s["spec"]
        param_names.check(s, lambda key, i=i: where(i, key))
        for ch in spec["channels"]:
            # the firmware records a parameter once, from the later sensor: the other's
            # readings would be lost without a word in the data
            _need(ch["param"] not in carried, where(i, "params"),
                  f"{ch['param']!r} comes from {carried.get(ch['param'])!r} and {sid!r}: "
                  f"name one of them for this station, e.g. \"params\": "
                  f"{{\"{ch['param']}\": \"{ch['param']}_{sid}\"}}")
            carried[ch["param"]] = sid
        uart = s.get("uart")
        if spec["bus"] == "modbus":
            addr = s.get("address", spec["modbus"].get("default_address"))
            _need(_int(addr) and 1 <= addr <= 247, where(i, "address"),
                  f"{addr!r} is not a whole number in 1..247")
            _need((uart, addr) not in addrs, where(i, "address"),
                  f"{addr} is also sensor {addrs.get((uart, addr))!r}'s on uart {uart!r}")
            addrs[uart, addr] = sid
        first = lines.setdefault(uart, i)
        if first == i:
            continue
        other = sensors[first]
        # config.py check(): a streaming sensor needs its uart alone
        streams = [x["id"] for x in (other, s) if x["spec"]["bus"] == "stream"]
        _need(not streams, where(i, "uart"),
              f"{uart!r} carries {other['id']!r} ({other['model']}) and {sid!r} "
              f"({s['model']}): a streaming sensor ({', '.join(streams)}) needs its "
              "uart alone")
        # the firmware opens one uart at one speed and framing: the models must agree
        mine, theirs = line(spec), line(other["spec"])
        _need(mine == theirs, where(i, "uart"),
              f"{s['model']} runs at {_show(mine)}, but {other['model']} ({other['id']!r}) "
              f"on the same uart {uart!r} at {_show(theirs)}: one line has one speed and "
              "framing")


def _show(ln: dict) -> str:
    return f"{ln['baud']} {ln['bits']}{ln['parity']}{ln['stop']}"
