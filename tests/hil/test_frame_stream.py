"""Every catalog model of the hpma, hpmaqa, ze and zeqa frame families simulated from its
catalog data (hil/frame_stream.py, no code per model), its frames checked by parsers written
here from the datasheet layouts (sensor-maps.md G5, P3), independently of the simulator."""

from __future__ import annotations

import os
import select

import pytest
from station_end import read_frames

import boards
from hil.frame_stream import FAMILIES, FrameStream
from hil.ports import PtyPort

MODELS = sorted(n for n, m in boards.catalog().items()
                if m["bus"] == "stream" and m["stream"]["frame"] in FAMILIES)


def parse_hpma(buf: bytes) -> list[dict]:
    """42 4D 00 1C, PM2.5 at bytes 6-7 and PM10 at 8-9 big-endian, 16-bit sum of 0..29."""
    out, i = [], 0
    while (i := buf.find(b"\x42\x4d\x00\x1c", i)) >= 0 and len(buf) - i >= 32:
        f = buf[i:i + 32]
        if sum(f[:30]) & 0xFFFF == int.from_bytes(f[30:], "big"):
            out.append({"pm2_5": int.from_bytes(f[6:8], "big"),
                        "pm10": int.from_bytes(f[8:10], "big")})
            i += 32
        else:
            i += 1
    return out


def parse_hpmaqa(buf: bytes) -> list[dict]:
    """40 05 04, PM2.5 and PM10 big-endian, (65536 - sum of the bytes before) mod 256."""
    out, i = [], 0
    while (i := buf.find(b"\x40\x05\x04", i)) >= 0 and len(buf) - i >= 8:
        f = buf[i:i + 8]
        if (65536 - sum(f[:7])) % 256 == f[7]:
            out.append({"pm2_5": int.from_bytes(f[3:5], "big"),
                        "pm10": int.from_bytes(f[5:7], "big")})
            i += 8
        else:
            i += 1
    return out


def parse_ze(buf: bytes) -> list[dict]:
    """FF gas unit decimals concH concL fullH fullL CS; all nine bytes sum to 0xFF."""
    out, i = [], 0
    while (i := buf.find(b"\xff", i)) >= 0 and len(buf) - i >= 9:
        f = buf[i:i + 9]
        if sum(f) & 0xFF == 0xFF and f[1] != 0x86:
            out.append({"gas": f[1], "unit": f[2],
                        "conc": int.from_bytes(f[4:6], "big") / 10 ** f[3]})
            i += 9
        else:
            i += 1
    return out


def parse_zeqa(buf: bytes) -> list[dict]:
    """FF 86, words at 2, 4, 6, CS (two's complement of the sum of bytes 1..7)."""
    out, i = [], 0
    while (i := buf.find(b"\xff\x86", i)) >= 0 and len(buf) - i >= 9:
        f = buf[i:i + 9]
        if sum(f) & 0xFF == 0xFF:
            out.append({"w2": int.from_bytes(f[2:4], "big"), "gas": f[4],
                        "w6": int.from_bytes(f[6:8], "big")})
            i += 9
        else:
            i += 1
    return out


def test_the_catalog_has_a_model_of_each_new_family():
    assert {boards.catalog()[n]["stream"]["frame"] for n in MODELS} == set(FAMILIES)


@pytest.mark.parametrize("name", MODELS)
def test_each_model_is_simulated_from_its_catalog_data(name):
    spec = boards.catalog()[name]
    family = spec["stream"]["frame"]
    match = {m["position"]: m["byte"] for m in spec["stream"].get("match", [])}
    ch = spec["channels"][0]
    scale = ch.get("scale", 1)
    value = 35.0 if family.startswith("hpma") else 120 * scale  # 120 counts in the frame's own unit
    ask = None
    with PtyPort() as port:
        sim = FrameStream(spec, port)
        sim.pin(ch["param"], value)
        with sim:
            if family in ("zeqa", "hpmaqa"):
                ask = next(bytes.fromhex(c["bytes"]) for c in spec["stream"]["send"]
                           if c["every_ms"])
            frames = read_frames(port.path, {"hpma": parse_hpma, "hpmaqa": parse_hpmaqa,
                                             "ze": parse_ze, "zeqa": parse_zeqa}[family], 2,
                                 ask, timeout_s=10)
    for f in frames:
        if family.startswith("hpma"):
            assert f[ch["field"]] == 35
        elif family == "ze":
            assert (f["gas"], f["unit"]) == (match[1], match[2])
            assert f["conc"] * scale == pytest.approx(value)
        else:
            assert f[ch["field"]] * scale == pytest.approx(value) and f["gas"] == match[4]
    if ask:
        assert sim.requests >= 2  # one reply per request, none unasked


def test_a_zeqa_module_is_silent_until_asked():
    spec = boards.catalog()["winsen-ze03-no2-qa"]
    with PtyPort() as port, FrameStream(spec, port):
        fd = os.open(port.path, os.O_RDWR | os.O_NOCTTY)
        try:
            assert not select.select([fd], [], [], 1.5)[0]
        finally:
            os.close(fd)


def test_a_value_the_frame_cannot_carry_is_refused():
    sim = FrameStream(boards.catalog()["winsen-ze03-no2"], None)
    with pytest.raises(ValueError, match=r"outside the 0\.\.65535 its word carries"):
        sim.pin("no2", 70_000_000)
    with pytest.raises(ValueError, match="is not a stream of hpma, hpmaqa, ze, zeqa"):
        FrameStream(boards.catalog()["plantower-pms5003"], None)
