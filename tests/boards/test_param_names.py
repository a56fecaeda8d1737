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


# -- the one lookup (param_names.base/label/chosen) every layer calls -------------------------

def test_a_recorded_name_gives_its_base_and_probe_from_the_name_alone():
    from boards import param_names as pn

    assert [pn.base(p) for p in ("temp_do", "ph_2", "pm2_5", "pm2_5_b", "temp", "volume")] == \
        ["temp", "ph", "pm2_5", "pm2_5", "temp", "volume"]
    assert (pn.qualifier("temp_do"), pn.qualifier("pm2_5")) == ("do", "")
    names = {"temp": "T", "pm2_5": "PM2.5"}
    assert pn.label("temp_do", names) == "T (probe do)"
    assert pn.label("temp_do", names, "vi") == "T (đầu đo do)"
    assert pn.label("pm2_5", names) == "PM2.5" and pn.label("temp", names) == "T"


def test_a_station_name_that_reads_as_another_parameter_is_refused(edited):
    edited("catalog/qt-do-opt", lambda m: m["channels"].append(
        {**m["channels"][0], "param": "temp_water", "register": 40}))
    edited("profiles/tap-water", lambda p: p["sensors"].append(
        {**THP, "params": {"temp": "temp_water_x"}}))
    with pytest.raises(boards.BoardsError, match=(
            r"sensors\[6\]\.params\.temp: 'temp_water_x' reads as a channel of 'temp_water', "
            r"not of 'temp'")):
        boards.registry()


def test_one_channel_per_base_counts_primary_then_unrenamed_then_first(edited):
    both = {**THP, "params": {"temp": "temp_thp"}}
    edited("profiles/tap-water", lambda p: p["sensors"].append(both))
    assert boards.registry().get("pq-tap-01").chosen()["temp"] == "temp"  # the unrenamed one
    edited("profiles/tap-water", lambda p: p["sensors"][-1].update(primary=["temp"]))
    chosen = boards.registry().get("pq-tap-01").chosen()
    assert chosen["temp"] == "temp_thp" and chosen["ph"] == "ph"
    assert chosen["rh"] == "rh"  # carried once: it is its own channel


def test_with_every_channel_renamed_the_first_in_profile_order_counts(edited):
    def two_renamed(p: dict) -> None:
        p["sensors"][0]["params"] = {"temp": "temp_ph"}
        p["sensors"].append({**THP, "params": {"temp": "temp_thp"}})

    edited("profiles/tap-water", two_renamed)
    st = boards.registry().get("pq-tap-01")
    assert "temp" not in st.params() and st.chosen()["temp"] == "temp_ph"


@pytest.mark.parametrize("primary, message", [
    (["humidity"], r"sensors\[6\]\.primary: qt-thp-485 has no parameter 'humidity'"),
    ("temp", r"sensors\[6\]\.primary: 'temp' is not a list of parameters"),
    (["ph"], r"sensors\[6\]\.primary: qt-thp-485 has no parameter 'ph'"),
])
def test_a_bad_primary_is_refused_naming_the_key(edited, primary, message):
    edited("profiles/tap-water", lambda p: p["sensors"].append(
        {**THP, "params": {"temp": "temp_thp"}, "primary": primary}))
    with pytest.raises(boards.BoardsError, match=message):
        boards.registry()


def test_two_sensors_primary_for_one_parameter_are_refused(edited):
    def twice(p: dict) -> None:
        p["sensors"][0]["primary"] = ["temp"]
        p["sensors"].append({**THP, "params": {"temp": "temp_thp"}, "primary": ["temp"]})

    edited("profiles/tap-water", twice)
    with pytest.raises(boards.BoardsError, match=(
            r"sensors\[6\]\.primary: 'temp' is already primary on sensor 'ph'")):
        boards.registry()
