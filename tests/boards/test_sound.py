"""The sound-level transmitter in the catalog and the air profile's `noise` option."""

from __future__ import annotations

import copy

import pytest

import boards

SOUND = boards.catalog()["qt-sound-485"]
PORTS = {"rs485": {"path": "/dev/null"}, "pm": {"path": "/dev/null"}}


def test_the_transmitter_records_six_statistics_of_one_level_register():
    assert [ch["param"] for ch in SOUND["channels"]] == list(boards.SOUND_PARAMS)
    assert {(ch["register"], ch["type"], ch["scale"], ch["unit"]) for ch in SOUND["channels"]} \
        == {(0, "int16", 0.1, "dBA")}
    assert SOUND["sound"]["sample_s"] == 1


@pytest.mark.parametrize(("change", "error"), [
    (lambda m: m["channels"][3].update(register=1),
     r"channels\[3\].register: 1 differs from channels\[0\]'s 0"),
    (lambda m: m["channels"].reverse(), "records laeq, lamax, lamin, l10, l50, l90 in this order"),
    (lambda m: m["sound"].update(sample_s=0), r"sound.sample_s: 0 is not a whole number"),
])
def test_a_sound_model_the_firmware_could_not_run_is_refused_naming_the_key(change, error):
    m = copy.deepcopy(SOUND)
    change(m)
    with pytest.raises(boards.BoardsError, match=error):
        boards._check_model(m, "boards/catalog/qt-sound-485.json")


def test_a_station_with_the_noise_option_carries_the_meter_polled_every_second(edited):
    edited("registry/phu-quoc", lambda d: d["stations"][1].update(options=["noise"]))
    st = boards.registry().get("pq-air-02")
    assert st.options == ("noise",)
    assert {p: u for p, u in st.params().items() if u == "dBA"} == dict.fromkeys(
        boards.SOUND_PARAMS, "dBA")
    cfg = boards.firmware_config(st, PORTS, {})
    noise = next(s for s in cfg["sensors"] if s["id"] == "noise")
    assert (noise["uart"], noise["addr"], noise["sample_s"], len(noise["ch"])) == \
        ("rs485", 4, 1, 6)
    assert cfg["sample_s"] == 10  # the gases keep the station's period
    assert all("sample_s" not in s for s in cfg["sensors"]
               if s["id"] != "noise" and s["bus"] == "modbus")
    # a station without the option is unchanged
    assert "laeq" not in boards.registry().get("pq-air-05").params()


def test_an_unknown_or_repeated_option_is_refused_naming_the_station(edited):
    edited("registry/phu-quoc", lambda d: d["stations"][1].update(options=["siren"]))
    with pytest.raises(boards.BoardsError, match=r"stations\[1\].options: 'siren' is not an "
                                                 r"option of profile 'air-standard' \(noise\)"):
        boards.registry()


def test_an_option_sensor_clashing_on_the_line_is_refused(edited):
    edited("registry/phu-quoc", lambda d: d["stations"][1].update(
        options=["noise"], sensors={"noise": {"address": 1}}))
    with pytest.raises(boards.BoardsError, match=r"stations\[1\].sensors.noise.address: 1 is "
                                                 r"also sensor 'gas'"):
        boards.registry()
