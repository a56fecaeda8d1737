"""Two channels of one parameter at one station (boards/param_names.py): the profile names one
of them, the base parameter stays known, and stations that rename nothing are unchanged."""

from __future__ import annotations

import pytest

import boards

THP = {"id": "thp", "model": "qt-thp-485", "uart": "rs485", "address": 7}


def test_a_parameter_from_two_sensors_is_refused_instead_of_one_being_dropped(edited):
    edited("profiles/tap-water", lambda p: p["sensors"].append(dict(THP)))
    with pytest.raises(boards.BoardsError, match=(
            r"tap-water\.json: sensors\[6\]\.params: 'temp' comes from 'ph' and 'thp': name "
            r"one of them for this station, e\.g\. \"params\": \{\"temp\": \"temp_thp\"\}")):
        boards.registry()


def test_a_renamed_channel_is_recorded_under_its_own_name_with_its_base(edited):
    edited("profiles/tap-water",
           lambda p: p["sensors"].append({**THP, "params": {"temp": "temp_thp"}}))
    st = boards.registry().get("pq-tap-01")
    params = st.params()
    assert params["temp"] == params["temp_thp"] == "degC"
    assert st.bases()["temp_thp"] == "temp" and st.bases()["temp"] == "temp"
    assert st.bases()["ph"] == "ph"
    cfg = boards.firmware_config(st, {"rs485": {"path": "/dev/null"}}, {})
    chans = {s["id"]: [c["param"] for c in s["ch"]] for s in cfg["sensors"]}
    assert chans["ph"] == ["ph", "temp"]          # today's series keeps its name and source
    assert chans["thp"] == ["temp_thp", "rh", "pressure"]
    # the catalog itself is not renamed (every other station reads the same file)
    assert boards.catalog()["qt-thp-485"]["channels"][0]["param"] == "temp"


def test_stations_that_rename_nothing_have_every_parameter_as_its_own_base():
    for st in boards.registry().stations:
        assert st.bases() == {p: p for p in st.params()}, st.id


@pytest.mark.parametrize("names, message", [
    ({"temp": "water"}, r"sensors\[6\]\.params\.temp: 'water' is not 'temp' plus a qualifier"),
    ({"temp": "temp_"}, r"'temp_' is not 'temp' plus a qualifier"),
    ({"temp": "temp_thp_ambient_air"}, r"is not 'temp' plus a qualifier"),
    ({"humidity": "humidity_2"}, r"params\.humidity: qt-thp-485 has no parameter 'humidity'"),
    (["temp_thp"], r"sensors\[6\]\.params: \['temp_thp'\] is not an object"),
])
def test_a_bad_station_name_for_a_channel_is_refused_naming_the_key(edited, names,
                                                                    message):
    edited("profiles/tap-water", lambda p: p["sensors"].append({**THP, "params": names}))
    with pytest.raises(boards.BoardsError, match=message):
        boards.registry()


def test_a_registry_entry_can_rename_for_one_station(edited):
    def two_probes(doc: dict) -> None:
        for s in doc["stations"]:
            if s["id"] == "pq-air-02":
                s["sensors"] = {"thp": {"params": {"temp": "temp_shelter"}}}

    edited("registry/phu-quoc", two_probes)
    reg = boards.registry()
    assert "temp_shelter" in reg.get("pq-air-02").params()
    assert "temp" not in reg.get("pq-air-02").params()
    assert "temp" in reg.get("pq-air-01").params()
