"""The catalog keys for real transmitters' quirks (sensor-maps.md §6): what the loader refuses,
naming the file and the key, and what the firmware's config.json gets from them."""

from __future__ import annotations

import copy
import json

import pytest

import boards

WHERE = "boards/catalog/x.json"

# the pH probe: pH at 0x2800, temperature at 0x2400, silent on every other register
PROBE = {
    "model": "x", "bus": "modbus",
    "serial": {"baud": 9600, "bits": 8, "parity": "N", "stop": 1},
    "modbus": {"default_address": 1, "function": 3, "timeout_ms": 250, "turnaround_ms": 100},
    "channels": [
        {"param": "ph", "unit": "pH", "register": 0x2800, "type": "float32", "order": "DCBA",
         "range": [0, 14]},
        {"param": "temp", "unit": "degC", "register": 0x2400, "type": "float32",
         "order": "DCBA", "range": [0, 60]},
    ],
}


def with_(change: dict, channel: dict | None = None) -> dict:
    m = copy.deepcopy(PROBE)
    m["modbus"].update(change)
    if channel:
        m["channels"][0].update(channel)
    return m


def test_two_far_apart_values_without_blocks_are_refused_at_load_not_on_the_pole():
    with pytest.raises(boards.BoardsError, match=r"x.json: channels: span 1026 registers "
                                                 r"\(9216..10241\), more than one read"):
        boards._check_model(with_({}), WHERE)


def test_blocks_make_the_probe_valid_and_reach_the_firmware_config():
    m = with_({"blocks": [{"register": 0x2400, "count": 2},
                          {"register": 0x2800, "count": 2, "function": 4}]})
    boards._check_model(m, WHERE)
    entry = boards.sensor_entry({"id": "ph", "model": "x", "uart": "rs485"}, m)
    assert entry["read"] == [[3, 0x2400, 2], [4, 0x2800, 2]]
    assert "send" not in entry


@pytest.mark.parametrize("change, channel, says", [
    ({"blocks": [{"register": 0x2400, "count": 2}]}, None,
     r"channels\[0\].register: registers 10240..10241 lie in no modbus.blocks entry"),
    ({"blocks": [{"register": 0x2400, "count": 2}, {"register": 0x2800, "count": 2},
                 {"register": 0, "count": 4}]}, None, r"modbus.blocks\[2\]: holds no channel"),
    ({"blocks": [{"register": 0x2400, "count": 126}]}, None,
     r"modbus.blocks\[0\].count: 126 is not 1..125"),
    ({"blocks": [{"register": 0x2400, "count": 2, "function": 6}]}, None,
     r"modbus.blocks\[0\].function: must be 3 or 4"),
    ({"numbering": 2}, None, r"modbus.numbering: 2 is not one of 0, 1, 30001, 40001"),
    ({"numbering": 40001}, None, r"channels\[0\].register: 10240 is not 40001..105536"),
    ({"before_read": [{"function": 6, "register": 1}]}, None,
     r"modbus.before_read\[0\].function: must be 3 or 4"),
    ({"before_read": [{"function": 16, "register": 1, "values": []}]}, None,
     r"modbus.before_read\[0\].values: \[\] is not 1..123 register words"),
    ({"before_read": [{"function": 3, "register": 0x2500, "count": 0, "wait_ms": -1}]}, None,
     r"modbus.before_read\[0\].wait_ms: -1 is not 0..60000 ms"),
    ({}, {"type": "int16", "sign": "ones"}, r"channels\[0\].sign: 'ones' is not one of twos, "
                                           r"magnitude, offset"),
    ({}, {"type": "int16", "sign": "offset"}, r"channels\[0\].negative_from: goes with sign"),
    ({}, {"sign": "magnitude"}, r"channels\[0\].sign: a float32 carries its own sign"),
    ({}, {"unavailable": ["0x8000"]}, r"channels\[0\].unavailable: \['0x8000'\] is not a list"),
])
def test_a_bad_quirk_key_is_named(change, channel, says):
    m = with_({"blocks": [{"register": 0x2400, "count": 2}, {"register": 0x2800, "count": 2}],
               **change}, channel)
    with pytest.raises(boards.BoardsError, match=says):
        boards._check_model(m, WHERE)


def test_a_real_model_says_where_its_map_comes_from():
    m = {**with_({"blocks": [{"register": 0x2400, "count": 2},
                             {"register": 0x2800, "count": 2}]}), "source": "a manual"}
    with pytest.raises(boards.BoardsError, match="x.json: source: a real model gives both"):
        boards._check_model(m, WHERE)
    with pytest.raises(boards.BoardsError, match="x.json: confidence: 'D' is not one of"):
        boards._check_model({**m, "confidence": "D"}, WHERE)


def test_manual_numbers_become_pdu_addresses_once_in_the_config():
    spec = boards.catalog()["greystone-cmd5b4"]
    assert spec["modbus"]["numbering"] == 40001
    entry = boards.sensor_entry({"id": "co", "model": "greystone-cmd5b4", "uart": "rs485"},
                                spec)
    assert (entry["ch"][0]["reg"], entry["ch"][0]["err_reg"]) == (1, 0)


def test_encodings_actions_and_sentinels_reach_the_config_in_the_firmware_s_words():
    cat = boards.catalog()
    kc = boards.sensor_entry({"id": "t", "model": "kincony-sht30", "uart": "u"},
                             cat["kincony-sht30"])
    assert kc["ch"][0]["signed"] == 10000 and "signed" not in kc["ch"][1]
    y511 = boards.sensor_entry({"id": "t", "model": "yosemitech-y511", "uart": "u"},
                               cat["yosemitech-y511"])
    assert y511["send"] == [[3, 0x2500, 0, 0, 1]]
    aq = boards.sensor_entry({"id": "d", "model": "aqualabo-optod", "uart": "u"},
                             cat["aqualabo-optod"])
    assert aq["send"] == [[16, 1, [7], 500, 0]]
    lab = copy.deepcopy(PROBE)
    lab["modbus"]["blocks"] = [{"register": 0x2400, "count": 2}, {"register": 0x2800, "count": 2}]
    lab["channels"][0].update(type="int16", sign="magnitude", unavailable=[32768])
    ch = boards.sensor_entry({"id": "x", "model": "x", "uart": "u"}, lab)["ch"][0]
    assert (ch["signed"], ch["discard"]) == (-1, [32768])


def test_a_model_file_from_another_folder_is_checked_like_the_catalog(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(PROBE))
    with pytest.raises(boards.BoardsError, match="x.json: channels: span 1026"):
        boards.model_file(path)
    path.write_text(json.dumps(with_({"blocks": [{"register": 0x2400, "count": 2},
                                                 {"register": 0x2800, "count": 2}]})))
    assert boards.model_file(path)["model"] == "x"


def test_real_models_carry_source_and_confidence_and_the_water_profile_uses_only_them():
    real = {name: m for name, m in boards.catalog().items() if not name.startswith("qt-")}
    assert len(real) >= 17
    for name, m in real.items():
        assert m["source"].startswith("sensor-maps.md") and m["confidence"], name
    prof = boards.profile("water-real")
    assert {s["model"] for s in prof["sensors"]} <= set(real)
    st = boards.Station(id="pq-tap-02", name="x", kind=prof["kind"], lat=10, lon=104,
                        station_class="", regulation="", column=None, profile="water-real")
    cfg = boards.firmware_config(st, {"rs485": {"path": "/dev/null"}},
                                 {"host": "h", "port": 1, "user": "u", "password": "p"})
    params = [ch["param"] for s in cfg["sensors"] for ch in s["ch"]]
    assert sorted(params) == ["do", "nh4", "ph", "temp", "turbidity"]
    assert cfg["uarts"]["rs485"]["baud"] == 9600
