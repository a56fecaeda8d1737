"""The registry and catalog are the one source for ACLs, QC limits, dashboards and alerts."""

import copy

import pytest

import boards

AIR_PARAMS = {"so2", "co", "no2", "o3", "pm1", "pm2_5", "pm10", "tsp", "temp", "rh", "pressure"}
WATER_PARAMS = {"ph", "do", "tss", "nh4", "temp"}
KIND_PARAMS = {"tap_water": WATER_PARAMS | {"turbidity", "chlorine"},
               "wastewater": WATER_PARAMS | {"cod", "flow"},
               "sea_water": WATER_PARAMS | {"conductivity", "salinity"},
               "surface_water": WATER_PARAMS}  # the raw-water source: the common probes
SOUND_PARAMS = {"laeq", "lamax", "lamin", "l10", "l50", "l90"}
# the night market, town centre, ports and airport: the air profile's noise option
NOISE_STATIONS = {"pq-air-01", "pq-air-02", "pq-air-03", "pq-air-04", "pq-air-06"}


def test_phu_quoc_network_has_the_programme_stations():
    reg = boards.registry()
    kinds = [s.kind for s in reg.stations]
    assert (kinds.count("air"), kinds.count("tap_water"), kinds.count("wastewater"),
            kinds.count("sea_water"), kinds.count("surface_water")) == (16, 3, 4, 2, 1)
    for s in reg.stations:  # all on the island
        assert 10.0 < s.lat < 10.46 and 103.82 < s.lon < 104.1, s.id


def test_every_station_carries_its_kind_parameters_in_native_units():
    for s in boards.registry().stations:
        params = s.params()
        want = AIR_PARAMS if s.kind == "air" else KIND_PARAMS[s.kind]
        assert set(params) == want | (SOUND_PARAMS if s.id in NOISE_STATIONS else set()), s.id
        assert ("noise" in s.raw) == (s.id in NOISE_STATIONS), s.id  # its noise regulation
    air = boards.registry().get("pq-air-01").params()
    assert air["so2"] == "ppb" and air["co"] == "ppm" and air["pm10"] == "ug/m3"
    tap, ww = boards.registry().get("pq-tap-01").params(), boards.registry().get("pq-ww-01")
    assert (tap["turbidity"], tap["chlorine"]) == ("NTU", "mg/L")
    assert (ww.params()["cod"], ww.params()["flow"]) == ("mg/L", "m3/h")
    sea = boards.registry().get("pq-sea-01").params()
    assert (sea["conductivity"], sea["salinity"]) == ("mS/cm", "PSU")
    assert air["pm2_5"] == air["pm1"] == "ug/m3"


@pytest.mark.parametrize("model, fields", [
    ("qt-pm-pms", {"pm1": "pm1_atm", "pm2_5": "pm2_5_atm", "pm10": "pm10_atm"}),
    ("qt-pm-sds", {"pm2_5": "pm2_5", "pm10": "pm10"})])
def test_each_particulate_frame_family_is_read_for_every_fraction_it_carries(model, fields):
    # the atmospheric words of a pms frame, not the indoor-calibrated CF=1 ones
    assert {ch["param"]: ch["field"] for ch in boards.catalog()[model]["channels"]} == fields


def test_firmware_config_resolves_addresses_and_per_station_overrides():
    reg = boards.registry()
    ports = {"rs485": {"path": "/dev/pts/90"}, "pm": {"path": "/dev/pts/91"}}
    mqtt = {"host": "127.0.0.1", "port": 1883, "user": "x", "password": "y"}
    plain = boards.firmware_config(reg.get("pq-air-01"), ports, mqtt, sample_s=2, report_s=10)
    strapped = boards.firmware_config(reg.get("pq-air-06"), ports, mqtt)
    gas = {s["id"]: s for s in plain["sensors"]}["gas"]
    assert gas["addr"] == 1 and gas["fn"] == 3
    assert {s["id"]: s for s in strapped["sensors"]}["gas"]["addr"] == 5
    assert plain["uarts"]["rs485"] == {"baud": 9600, "bits": 8, "parity": "N", "stop": 1,
                                       "path": "/dev/pts/90"}
    assert (plain["sample_s"], plain["report_s"]) == (2, 10)
    assert (strapped["sample_s"], strapped["report_s"]) == (10, 300)
    so2 = gas["ch"][0]
    assert so2 == {"param": "so2", "unit": "ppb", "reg": 0, "type": "float32", "order": "CDAB",
                   "range": [0, 2000]}


def test_firmware_config_names_a_missing_port():
    reg = boards.registry()
    with pytest.raises(boards.BoardsError, match="pq-air-01: sensor pm.*uart 'pm'"):
        boards.firmware_config(reg.get("pq-air-01"), {"rs485": {"path": "/dev/null"}}, {})


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m["channels"][0].update(type="int64"), r"channels\[0\]\.type: 'int64'"),
    (lambda m: m["channels"][0].update(order="ACBD"), r"channels\[0\]\.order: 'ACBD'"),
    (lambda m: m["channels"][0].update(range=[5, 1]), r"channels\[0\]\.range"),
    (lambda m: m["modbus"].update(function=16), r"modbus\.function"),
])
def test_a_bad_catalog_entry_is_refused_naming_the_key(mutate, message):
    model = copy.deepcopy(boards.catalog()["qt-gas4-ec"])
    mutate(model)
    with pytest.raises(boards.BoardsError, match=message):
        boards._check_model(model, "boards/catalog/qt-gas4-ec.json")


@pytest.mark.parametrize("mutate, message", [
    (lambda m: m["channels"][1].update(field="pm25_atm"),
     r"qt-pm-pms.json: channels\[1\]\.field: 'pm25_atm' is not a word of the frame"),
    (lambda m: m["channels"][0].update(param="pm10"), r"a parameter appears twice"),
])
def test_a_bad_stream_channel_is_refused_at_load_not_at_a_station_boot(mutate, message):
    model = copy.deepcopy(boards.catalog()["qt-pm-pms"])
    mutate(model)
    with pytest.raises(boards.BoardsError, match=message):
        boards._check_model(model, "boards/catalog/qt-pm-pms.json")


def test_the_frame_words_are_the_ones_the_firmware_splits_frames_into():
    fields: dict = {}
    for name in ("frames.py", "frames_more.py"):  # the rarer families in a module of their own
        src = (boards.HERE.parent / "firmware" / "bus" / name).read_text()
        scope: dict = {}
        exec(src.split("FIELDS = ", 1)[1].split("}", 1)[0].join(["FIELDS = ", "}"]),
             {"PMS": "pms", "SDS": "sds", "HPMA": "hpma", "HPMAQA": "hpmaqa", "ZE": "ze",
              "ZEQA": "zeqa", "BM": "bm"}, scope)
        fields.update({k: tuple(v.split()) for k, v in scope["FIELDS"].items()})
    assert fields == boards.FRAME_FIELDS
    assert set(boards.FRAME_FAMILIES) == set(fields)


def test_unknown_station_is_a_clear_error():
    with pytest.raises(boards.BoardsError, match="unknown station 'pq-air-99'"):
        boards.registry().get("pq-air-99")


def test_the_registry_names_its_province_for_the_egov_files():
    from types import SimpleNamespace

    from collector.egov.plugin import naming

    assert boards.registry().province == "An Giang"
    options = SimpleNamespace(province="", facility="", station_codes=())
    assert naming(options, SimpleNamespace(registry="phu-quoc")).province == "AnGiang"


def test_a_province_that_is_not_text_is_refused_naming_the_key(monkeypatch):
    real = boards._read

    def with_number(path):
        doc = real(path)
        return {**doc, "province": 7} if path.parent.name == "registry" else doc

    monkeypatch.setattr(boards, "_read", with_number)
    boards.registry.cache_clear()
    try:
        with pytest.raises(boards.BoardsError, match=r"phu-quoc\.json: province: 7"):
            boards.registry("phu-quoc")
    finally:
        monkeypatch.undo()
        boards.registry.cache_clear()


def test_each_domestic_water_station_has_the_kind_profile_and_rule_of_its_water():
    reg = boards.registry()
    raw = reg.get("pq-tap-02")  # Hồ Cửa Cạn: the raw-water source, surface water
    assert (raw.kind, raw.profile, raw.regulation, raw.column) == \
        ("surface_water", "raw-water", "QCVN 08:2023/BTNMT", "A")
    for sid in ("pq-tap-01", "pq-tap-03", "pq-tap-04"):  # treatment plants, network
        st = reg.get(sid)
        assert (st.kind, st.regulation) == ("tap_water", "QCVN 01-1:2024/BYT"), sid


def test_every_outfall_records_its_design_flow_and_no_k_factor():
    for s in boards.registry().stations:
        if s.kind == "wastewater":
            assert s.regulation == "QCVN 14:2025/BTNMT" and "k_factor" not in s.raw, s.id
            assert s.raw["design_flow_m3d"] > 0, s.id


def test_a_design_flow_that_is_not_a_positive_number_is_refused_naming_the_key(monkeypatch):
    real = boards._read

    def bad_flow(path):
        doc = real(path)
        if path.parent.name == "registry":
            doc["stations"] = [{**s, "design_flow_m3d": "5000 m3"} if s["id"] == "pq-ww-02"
                               else s for s in doc["stations"]]
        return doc

    monkeypatch.setattr(boards, "_read", bad_flow)
    boards.registry.cache_clear()
    try:
        with pytest.raises(boards.BoardsError,
                           match=r"stations\[\d+\]\.design_flow_m3d: '5000 m3' is not a flow"):
            boards.registry("phu-quoc")
    finally:
        monkeypatch.undo()
        boards.registry.cache_clear()
