"""Byte-exact checks of the firmware's pure layers, run on the MicroPython unix port.

tests/firmware/mpy/units.py prints PASS/FAIL per test and each becomes one pytest result here;
the other cases are computed independently in CPython (struct, the datasheet frame layouts,
the protocol JSON Schema) and compared with what the firmware produced.
"""

from __future__ import annotations

import json
import math
import re
import struct
import subprocess

import pytest
from fw_harness import (
    FIRMWARE,
    HEAP,
    MICROPYTHON,
    MPY_TESTS,
    mpy_env,
    pms_frame,
    pms_words,
    run_mpy,
    sds_frame,
    validator,
    wire_bytes,
)

UNIT_SCRIPTS = ("units_bus.py", "units_station.py")
UNIT_TESTS = [(script, name) for script in UNIT_SCRIPTS
              for name in re.findall(r"^def (test_\w+)\(", (MPY_TESTS / script).read_text(), re.M)]


@pytest.fixture(scope="module")
def unit_results(tmp_path_factory) -> dict[tuple[str, str], tuple[str, str]]:
    results = {}
    scratch = tmp_path_factory.mktemp("mpy")  # data_dir of the scripts' stations (the hold)
    for script in UNIT_SCRIPTS:
        for line in run_mpy(script, str(scratch)).splitlines():
            m = re.match(r"(PASS|FAIL) (test_\w+)(?::\s*(.*))?$", line)
            if m:
                results[script, m[2]] = (m[1], m[3] or "")
    return results


@pytest.mark.parametrize(("script", "name"), UNIT_TESTS)
def test_on_micropython(unit_results, script, name):
    assert (script, name) in unit_results, f"{script}: {name} printed no PASS/FAIL line"
    status, why = unit_results[script, name]
    assert status == "PASS", why


# ---- decode: every type x word order against CPython's struct --------------------------------

RAW_VALUES = {
    "int16": [0, 1, -1, 12345, -32768, 32767],
    "uint16": [0, 1, 655, 65535],
    "int32": [0, -1, 123456789, -2147483648, 2147483647, -123456],
    "uint32": [0, 1, 4294967295, 100000, 0x12345678],
    "float32": [0.0, 12.5, -0.001, 1013.25, 3.4e38, 1e-30, 123.4],
}
SCALES = [(1, 0), (0.1, 0), (0.001, -5.0)]


def decode_cases() -> tuple[list[dict], list[float]]:
    cases, want = [], []
    for typ, raws in RAW_VALUES.items():
        for order in ("ABCD", "CDAB", "BADC", "DCBA"):
            for raw in raws:
                for scale, offset in SCALES:
                    wire = wire_bytes(raw, typ, order)
                    value = struct.unpack(">f", struct.pack(">f", raw))[0] if typ == "float32" \
                        else raw
                    cases.append({"type": typ, "order": order, "wire": wire.hex(),
                                  "scale": scale, "offset": offset})
                    want.append(value if (scale, offset) == (1, 0) else value * scale + offset)
    # decimal-point register right after the value
    for raw, dec, scale in ((700, 2, 1), (65535, 4, 1), (-200, 1, 1), (1234, 3, 0.1)):
        typ = "int16" if raw < 0 else "uint16"
        cases.append({"type": typ, "order": "ABCD", "scale": scale, "offset": 0, "dec_reg": 1,
                      "wire": (wire_bytes(raw, typ, "ABCD") + struct.pack(">H", dec)).hex()})
        want.append(raw * scale / 10**dec)
    return cases, want


def test_decode_matches_struct(tmp_path):
    cases, want = decode_cases()
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    got = [json.loads(x) for x in run_mpy("decode_cases.py", str(path)).splitlines()]
    assert len(got) == len(want)
    for case, g, w in zip(cases, got, want, strict=True):
        assert g == pytest.approx(w, rel=1e-14, abs=1e-300), case


def test_decode_refuses_nan_inf_and_wild_decimals(tmp_path):
    nan, inf = struct.pack(">f", math.nan), struct.pack(">f", math.inf)
    cases = [{"type": "float32", "order": "ABCD", "wire": nan.hex(), "scale": 1, "offset": 0},
             {"type": "float32", "order": "ABCD", "wire": inf.hex(), "scale": 1, "offset": 0},
             {"type": "uint16", "order": "ABCD", "wire": "02bc0009", "scale": 1, "offset": 0,
              "dec_reg": 1}]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    got = [json.loads(x) for x in run_mpy("decode_cases.py", str(path)).splitlines()]
    assert got == [None, None, None]


# ---- frame splitter: resync after garbage, bad sums, false headers ---------------------------

def pms_stream() -> tuple[bytes, list[list[int]]]:
    frames = [pms_words(v) for v in (35, 120, 7, 999, 0x424D)]
    bad = bytearray(pms_frame(pms_words(50)))
    bad[-1] ^= 0x01  # checksum off by one
    cut = pms_frame(pms_words(60))[:20]  # a frame cut short by a UART overflow
    fake = b"\x42\x4d\x00\x1c" + bytes(range(10))  # right header and length, then a real frame
    stream = (b"\x00\x42\x13" + pms_frame(frames[0]) + bytes(bad) + b"\x42\x4d"
              + pms_frame(frames[1]) + cut + pms_frame(frames[2]) + fake + pms_frame(frames[3])
              + b"\x42" + pms_frame(frames[4]))
    return stream, frames


def sds_stream() -> tuple[bytes, list[list[float]]]:
    values = [(123, 456), (0, 1), (9999, 9999), (0xAAC0 & 0x7FFF, 0xAB)]
    bad_sum = bytearray(sds_frame(10, 20))
    bad_sum[8] ^= 0xFF
    bad_tail = bytearray(sds_frame(30, 40))
    bad_tail[9] = 0xAC
    stream = (b"\xab\xaa" + sds_frame(*values[0]) + bytes(bad_sum) + sds_frame(*values[1])
              + bytes(bad_tail) + b"\xaa\xc0\x01" + sds_frame(*values[2]) + sds_frame(*values[3]))
    return stream, [[a / 10, b / 10] for a, b in values]


@pytest.mark.parametrize("chunks", ["1", "7,3,32", "32", "5,11,2"])
def test_pms_frames_resync(tmp_path, chunks):
    stream, frames = pms_stream()
    path = tmp_path / "stream.bin"
    path.write_bytes(stream)
    lines = [json.loads(x) for x in run_mpy("frame_stream.py", "pms", str(path), chunks)
             .splitlines() if x.startswith("{")]
    assert [x["frame"] for x in lines[:-1]] == frames
    assert lines[-1]["frames"] == len(frames)
    assert lines[-1]["bad"] >= 2  # the off-by-one sum and the fake header's frame


@pytest.mark.parametrize("chunks", ["1", "10", "3,7,4"])
def test_sds_frames_resync(tmp_path, chunks):
    stream, frames = sds_stream()
    path = tmp_path / "stream.bin"
    path.write_bytes(stream)
    lines = [json.loads(x) for x in run_mpy("frame_stream.py", "sds", str(path), chunks)
             .splitlines() if x.startswith("{")]
    assert [x["frame"] for x in lines[:-1]] == frames
    assert lines[-1]["frames"] == len(frames)
    assert lines[-1]["bad"] >= 1


# ---- record encoding, validated against docs/protocol-v1.schema.json --------------------------

def test_records_are_schema_valid_and_faithful(tmp_path):
    def channels(so2, temp, pm10_offline):
        return [
            {"param": "so2", "unit": "ppb", "places": -1, "range": [0, 2000], "offline": False,
             "samples": so2},
            {"param": "temp", "unit": "degC", "places": 1, "range": [-40, 80], "offline": False,
             "samples": temp},
            {"param": "pm10", "unit": "ug/m3", "places": 0, "range": [0, 1000],
             "offline": pm10_offline, "samples": [None] * 30 if pm10_offline else [35] * 30}]

    so2 = [12.345678 + i / 7 for i in range(30)]
    records = [
        {"t": 1763755200, "p": 300, "expected": 30,
         "channels": channels(so2, [-3.1, -2.9, 100.0] + [None] * 27, True)},
        {"t": 1763755500, "p": 300, "expected": 30,
         "channels": channels([1500.25] * 30, [21.5] * 30, False)},
    ]
    case = {"station": "pq-air-01", "fw": "0.1.0", "boot": "0badc0de", "seq": 4294967295,
            "minmax": True, "records": records}
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    text = run_mpy("encode_records.py", str(path), str(tmp_path / "data")).strip().splitlines()[-1]
    msg = json.loads(text)
    validator("data")(msg)
    assert (msg["st"], msg["boot"], msg["seq"]) == ("pq-air-01", "0badc0de", 4294967295)
    r0, r1 = msg["r"]
    assert (r0["t"], r0["p"], r1["t"]) == (1763755200, 300, 1763755500)

    got = r0["d"]["so2"]
    mean = sum(so2) / len(so2)
    assert got[1:5] == ["ppb", 0, 30, 0]
    assert got[0] == pytest.approx(mean, abs=0.005)  # 4 significant digits
    assert got[5] == pytest.approx(min(so2), abs=0.005)
    assert got[6] == pytest.approx(max(so2), abs=0.005)

    # 2 valid of 30 expected, one out of range: flags 1 | 2, values at the sensor's resolution
    assert r0["d"]["temp"] == [-3.0, "degC", 0, 2, 3, -3.1, -2.9]
    assert r0["d"]["pm10"] == [None, "ug/m3", 2, 0, 2 | 4]
    assert r1["d"] == {"so2": [1500, "ppb", 0, 30, 0, 1500, 1500],
                       "temp": [21.5, "degC", 0, 30, 0, 21.5, 21.5],
                       "pm10": [35, "ug/m3", 0, 30, 0, 35, 35]}
    # compact: no value carries more decimals than its resolution allows
    assert not re.search(r"\d\.\d{5,}", text)


# ---- main.py refuses a bad config, naming the key ---------------------------------------------

def test_main_names_the_bad_key(tmp_path):
    cfg = {"station": "pq-air-01", "mqtt": {"host": "127.0.0.1", "user": "u", "password": "p"},
           "uarts": {"rs485": {"path": "/dev/null"}},
           "sensors": [{"id": "gas", "bus": "modbus", "uart": "rs485", "addr": 1, "ch": [
               {"param": "so2", "unit": "ppb", "reg": 0, "type": "float", "range": [0, 1]}]}]}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run([str(MICROPYTHON), "-X", HEAP, str(FIRMWARE / "main.py"), str(path)],
                          env=mpy_env(), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "config: sensors[0].ch[0].type: 'float' is not one of int16" in proc.stdout
