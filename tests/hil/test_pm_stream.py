"""Particulate frames as a station reads them off its UART, checked by a reference parser.

The parsers below are written from the datasheet layouts, independently of hil/pm_stream.py:
header, length, checksum, then the fields under the names the catalog's `field` uses.
"""

from __future__ import annotations

import time

import pytest
from station_end import read_frames

import boards
from hil.pm_stream import PmStream
from hil.ports import PtyPort


def parse_pms(buf: bytes) -> list[dict]:
    """0x42 0x4D, length 28, 13 big-endian words, 16-bit sum of the 30 bytes before it."""
    names = ["pm1_cf1", "pm2_5_cf1", "pm10_cf1", "pm1_atm", "pm2_5_atm", "pm10_atm",
             "n0_3", "n0_5", "n1_0", "n2_5", "n5_0", "n10", "reserved"]
    frames, i = [], 0
    while (i := buf.find(b"\x42\x4d", i)) >= 0 and len(buf) - i >= 32:
        f = buf[i:i + 32]
        if int.from_bytes(f[2:4], "big") != 28 or \
                sum(f[:30]) & 0xFFFF != int.from_bytes(f[30:32], "big"):
            i += 1
            continue
        frames.append({n: int.from_bytes(f[4 + 2 * k:6 + 2 * k], "big")
                       for k, n in enumerate(names)})
        i += 32
    return frames


def parse_sds(buf: bytes) -> list[dict]:
    """0xAA 0xC0, PM2.5 and PM10 ×10 little-endian, 2 id bytes, 8-bit sum of data, 0xAB."""
    frames, i = [], 0
    while (i := buf.find(b"\xaa\xc0", i)) >= 0 and len(buf) - i >= 10:
        f = buf[i:i + 10]
        if f[9] != 0xAB or sum(f[2:8]) & 0xFF != f[8]:
            i += 1
            continue
        frames.append({"pm2_5": (f[2] | f[3] << 8) / 10, "pm10": (f[4] | f[5] << 8) / 10,
                       "id": f[6] | f[7] << 8})
        i += 10
    return frames


PARSERS = {"pms": parse_pms, "sds": parse_sds}


@pytest.mark.parametrize("name, pm10", [("qt-pm-pms", 42), ("qt-pm-sds", 42.7)])
def test_frames_carry_the_pinned_pm10_in_the_catalog_field(name, pm10):
    spec = boards.catalog()[name]
    field = {ch["param"]: ch["field"] for ch in spec["channels"]}["pm10"]
    with PtyPort() as port:
        stream = PmStream(spec, port)
        stream.pin("pm10", pm10)
        with stream:
            frames = read_frames(port.path, PARSERS[spec["stream"]["frame"]], 2)
    for f in frames:
        assert f[field] == pytest.approx(pm10)
        assert 0 < f["pm2_5" if name == "qt-pm-sds" else "pm2_5_atm"] <= pm10


def test_pms_fine_fractions_and_counts_are_plausible_and_pinnable():
    spec = boards.catalog()["qt-pm-pms"]
    with PtyPort() as port:
        stream = PmStream(spec, port)
        stream.pin("pm10", 80)
        stream.pin("pm2_5", 30)
        with stream:
            (f,) = read_frames(port.path, PARSERS["pms"], 1)
    assert (f["pm10_atm"], f["pm2_5_atm"]) == (80, 30)
    assert 0 < f["pm1_atm"] <= f["pm2_5_atm"] <= f["pm10_atm"]
    assert f["pm10_cf1"] >= f["pm10_atm"]
    counts = [f[k] for k in ("n0_3", "n0_5", "n1_0", "n2_5", "n5_0", "n10")]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0


def wait_for(what: str, ok, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def test_unpinned_frames_follow_the_source():
    spec = boards.catalog()["qt-pm-sds"]
    live = {"pm10": 55.5}
    with PtyPort() as port, PmStream(spec, port, source=live.__getitem__) as stream:
        first = read_frames(port.path, PARSERS["sds"], 1)[0]
        live["pm10"] = 12.0
        sent = stream.frames
        wait_for("two more frames", lambda: stream.frames >= sent + 2)
        later = read_frames(port.path, PARSERS["sds"], 1)[-1]  # the newest frame queued so far
    assert first["pm10"] == pytest.approx(55.5)
    assert later["pm10"] == pytest.approx(12.0) and later["pm2_5"] < later["pm10"]


@pytest.mark.parametrize("name", ["qt-pm-pms", "qt-pm-sds"])
def test_a_source_with_pm2_5_drives_the_fine_fraction_and_pm10_follows(name):
    spec = boards.catalog()[name]
    live = {"pm2_5": 81.0, "pm10": 20.0}  # a replayed PM2.5 above the PM10 signal
    with PtyPort() as port, PmStream(spec, port, source=live.__getitem__):
        (f, *_) = read_frames(port.path, PARSERS[spec["stream"]["frame"]], 1)
    fields = {ch["param"]: ch["field"] for ch in spec["channels"]}
    assert f[fields["pm2_5"]] == pytest.approx(81.0)
    assert f[fields["pm10"]] == pytest.approx(135.0)  # 81 / 0.6: never below PM2.5
    if "pm1" in fields:
        assert 0 < f[fields["pm1"]] <= 81


def test_pinning_what_the_frame_cannot_carry_is_refused():
    pms = PmStream(boards.catalog()["qt-pm-pms"], None)
    with pytest.raises(ValueError, match="multiple of 1.0"):
        pms.pin("pm10", 42.5)
    with pytest.raises(KeyError, match="no channel 'co'"):
        pms.pin("co", 1)
    with pytest.raises(RuntimeError, match="no port"):
        pms.start()


def test_a_station_that_stops_reading_gets_fresh_frames_not_a_backlog():
    spec = boards.catalog()["qt-pm-sds"]
    with PtyPort(rx_limit=64) as port:
        stream = PmStream(spec, port)
        stream.period_s = 0.02  # many frames while nobody reads
        stream.pin("pm10", 10.0)
        with stream:
            wait_for("30 unread frames", lambda: stream.frames >= 30)
            stream.pin("pm10", 20.0)
            sent = stream.frames
            wait_for("20 more unread frames", lambda: stream.frames >= sent + 20)
            queued = port.pending_input()
            frames = read_frames(port.path, PARSERS["sds"], 1)
    assert queued <= 64 + 10 and port.dropped > 0
    assert frames[0]["pm10"] == pytest.approx(20.0)  # the oldest one still queued is fresh
