"""Every catalog model of the hpma, hpmaqa, ze, zeqa and bm frame families simulated from its
catalog data (hil/frame_stream.py, no code per model), its frames checked by parsers written
here from the datasheet layouts (sensor-maps.md G5, P1, P3), independently of the simulator."""

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
    """40 05 04 (S0: PM2.5, PM10) or 40 0D 04 (C0: PM1, PM2.5, PM4, PM10), big-endian words
    from byte 3, (65536 - sum of the bytes before) mod 256."""
    out, i = [], 0
    while (i := buf.find(b"\x40", i)) >= 0 and len(buf) - i >= 8:
        size = {5: 8, 13: 16}.get(buf[i + 1])
        f = buf[i:i + size] if size else b""
        if size and len(f) == size and f[2] == 4 and (65536 - sum(f[:-1])) % 256 == f[-1]:
            words = {f"w{n}": int.from_bytes(f[n:n + 2], "big") for n in range(3, size - 2, 2)}
            out.append({**words, "pm2_5": words["w3"], "pm10": words["w5"]})
            i += size
        else:
            i += 1
    return out


def parse_bm(buf: bytes) -> list[dict]:
    """42 4D, length n (big-endian), words from byte 4, 16-bit sum of the n + 2 bytes before
    it: every word both unsigned (wN) and two's complement (sN)."""
    out, i = [], 0
    while (i := buf.find(b"\x42\x4d", i)) >= 0 and len(buf) - i >= 4:
        n = int.from_bytes(buf[i + 2:i + 4], "big")
        f = buf[i:i + n + 4]
        if len(f) == n + 4 and sum(f[:-2]) & 0xFFFF == int.from_bytes(f[-2:], "big"):
            row = {"n": n}
            for at in range(4, n + 2, 2):
                row[f"w{at}"] = int.from_bytes(f[at:at + 2], "big")
                row[f"s{at}"] = int.from_bytes(f[at:at + 2], "big", signed=True)
            out.append(row)
            i += n + 4
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
    # 120 counts in the frame's own unit
    value = 35.0 if family.startswith("hpma") else 120 * scale
    ask = None
    with PtyPort() as port:
        sim = FrameStream(spec, port)
        sim.pin(ch["param"], value)
        with sim:
            if family in ("zeqa", "hpmaqa"):
                ask = next(bytes.fromhex(c["bytes"]) for c in spec["stream"]["send"]
                           if c["every_ms"])
            frames = read_frames(port.path, {"hpma": parse_hpma, "hpmaqa": parse_hpmaqa,
                                             "ze": parse_ze, "zeqa": parse_zeqa,
                                             "bm": parse_bm}[family], 2,
                                 ask, timeout_s=10)
    for f in frames:
        if family.startswith("hpma"):
            assert f[ch["field"]] == 35
        elif family == "bm":
            assert f["n"] == match[2] << 8 | match[3] and f[ch["field"]] * scale == value
        elif family == "ze":
            assert (f["gas"], f["unit"]) == (match[1], match[2])
            assert f["conc"] * scale == pytest.approx(value)
        else:
            assert f[ch["field"]] * scale == pytest.approx(value)
            assert 4 not in match or f["gas"] == match[4]
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
    with pytest.raises(ValueError, match="is not a stream of hpma, hpmaqa, ze, zeqa, bm"):
        FrameStream(boards.catalog()["plantower-pms5003"], None)


def test_the_pms5003st_is_simulated_word_by_word_with_a_signed_temperature():
    spec = boards.catalog()["plantower-pms5003st"]
    want = {"pm2_5": 22.0, "hcho": 53.0, "temp": -5.0, "rh": 61.0}
    with PtyPort() as port:
        sim = FrameStream(spec, port)
        for param, value in want.items():
            sim.pin(param, value)
        with sim:
            frames = read_frames(port.path, parse_bm, 2, None, timeout_s=10)
    for f in frames:  # 40 bytes; the datasheet's words: PM2.5 atm 12, HCHO 28, T 30, RH 32
        assert (f["n"], f["w12"], f["w28"], f["s30"], f["w32"]) == (36, 22, 53, -50, 610)
