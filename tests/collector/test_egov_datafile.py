"""Circular 10/2021 data files from readings, the e-gov documents from points, and the [egov]
options a province gets wrong, each refused with a message naming the key."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from collector.config import ConfigError, Settings
from collector.contracts import Point, Reading
from collector.egov import datafile, messages
from collector.egov.plugin import due_days

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T = 1772420700  # 2026-03-02 03:05:00 UTC = 10:05:00 local
ENV = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
       "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
       "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
       "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}


def reading(param: str, value: float | None, unit: str, status: int = 0, t: int = T,
            station: str = "pq-air-01") -> Reading:
    return Reading(station, "air", param, unit, t, value, status)


def test_one_file_per_station_and_cycle_with_one_line_per_parameter():
    naming = datafile.Naming("AnGiang", "PhuQuoc", TZ, {"pq-air-01": "PQ-KK01"})
    symbols = datafile.load_symbols()
    rs = [reading("pm10", 35.14, "ug/m3"), reading("so2", 32.755, "ug/Nm3"),
          reading("pm2_5", 21.06, "ug/m3"), reading("pm1", 14.0, "ug/m3"),
          reading("temp", 29.96, "degC"), reading("co", None, "ug/Nm3", status=2),
          reading("rh", 81.0, "%", status=1), reading("so2", 40.0, "ug/Nm3", t=T + 300),
          reading("ph", 7.1, "pH", station="pq-ww-01", t=T)]
    files = datafile.cycle_files(rs, naming, symbols)
    assert [(k, p) for k, p, _ in files] == [
        ("pq-air-01/20260302100500",
         "PQ-KK01/2026/03/02/AnGiang_PhuQuoc_PQ-KK01_20260302100500.txt"),
        ("pq-air-01/20260302101000",
         "PQ-KK01/2026/03/02/AnGiang_PhuQuoc_PQ-KK01_20260302101000.txt"),
        ("pq-ww-01/20260302100500",
         "pq-ww-01/2026/03/02/AnGiang_PhuQuoc_pq-ww-01_20260302100500.txt")]
    # the symbols table's order; a null value (device error, no sample) has no line
    assert files[0][2] == ("Temp\t30.0\toC\t20260302100500\t00\n"
                           "RH\t81.0\t%\t20260302100500\t01\n"
                           "SO2\t32.8\tug/Nm3\t20260302100500\t00\n"
                           "PM10\t35.1\tug/m3\t20260302100500\t00\n"
                           "PM2,5\t21.1\tug/m3\t20260302100500\t00\n")  # PM1: not_sent
    assert files[2][2] == "pH\t7.10\t-\t20260302100500\t00\n"
    assert datafile.cycle_files([reading("co", None, "ug/Nm3")], naming, symbols) == []


def test_no_noise_line_in_a_circular_10_file_and_no_warning_for_one(caplog):
    """The circular names no noise symbol (docs/noise.md): the sound levels are left out on
    purpose (not_sent), the station's other parameters still make their file."""
    naming = datafile.Naming("AnGiang", "PhuQuoc", TZ, {})
    symbols = datafile.load_symbols()
    rs = [reading(p, 61.3, "dBA", station="pq-air-02")
          for p in ("laeq", "lamax", "lamin", "l10", "l50", "l90")]
    assert datafile.cycle_files(rs, naming, symbols) == []
    files = datafile.cycle_files([*rs, reading("so2", 32.755, "ug/Nm3", station="pq-air-02")],
                                 naming, symbols)
    assert files[0][2] == "SO2\t32.8\tug/Nm3\t20260302100500\t00\n"
    assert "no symbol" not in caplog.text


def test_codes_symbols_and_province_are_checked_by_name(tmp_path):
    assert datafile.ascii_code("An Giang") == "AnGiang"
    assert datafile.ascii_code("Đảo Phú Quốc") == "DaoPhuQuoc"
    with pytest.raises(datafile.DataFileError, match="station_codes: 'pq-air-99=X'"):
        datafile.parse_codes(["pq-air-99=X"], ["pq-air-01"])
    with pytest.raises(datafile.DataFileError, match="the code must be"):
        datafile.parse_codes(["pq-air-01=A_B"], ["pq-air-01"])
    with pytest.raises(datafile.DataFileError, match="province = 'An Giang'"):
        datafile.Naming("An Giang", "PQ", TZ)
    bad = tmp_path / "symbols.json"
    bad.write_text(json.dumps({"symbols": {"so2": {"symbol": "SO\t2"}}}))
    with pytest.raises(datafile.DataFileError, match=r"symbols\.so2\.symbol"):
        datafile.load_symbols(bad)
    bad.write_text(json.dumps({"symbols": {"so2": {"symbol": "SO2", "decimals": 9}}}))
    with pytest.raises(datafile.DataFileError, match=r"symbols\.so2\.decimals = 9"):
        datafile.load_symbols(bad)
    # the key the shipped table had for PM2.5: it matched no parameter, so PM2.5 was dropped
    bad.write_text(json.dumps({"symbols": {"pm25": {"symbol": "PM2,5", "decimals": 1}}}))
    with pytest.raises(datafile.DataFileError, match=r"'pm25' is not a parameter any sensor "
                                                     r"model measures \(.*co, .*pm2_5"):
        datafile.load_symbols(bad)


@pytest.mark.parametrize(("options", "message"), [
    ({"ftp_url": "sftp://x/in"}, "ftp_url = 'sftp://x/in'"),
    ({"api_url": "https://ioc.example/api"}, "needs token_url and client_id"),
    ({"facility": "Phu Quoc"}, "facility = 'Phu Quoc'"),
    ({"station_codes": ["pq-air-01"]}, "station_codes: 'pq-air-01'"),
    ({"open_data_formats": ["xlsx"]}, "open_data_formats: 'xlsx'"),
    ({"open_data_langs": ["fr"]}, "open_data_langs: 'fr'"),
])
def test_bad_egov_options_stop_the_collector_at_load(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(ENV, tmp_path, {"egov": {"enabled": True, **options}})


def test_an_unreadable_secrets_file_is_named(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "egov.json").write_text("{not json")
    with pytest.raises(ConfigError, match="egov.json: unreadable secrets file"):
        Settings.from_env(ENV, tmp_path, {"egov": {"enabled": True}})


def test_alert_and_index_documents_carry_stable_idempotency_keys():
    note = {"v": 1, "st": "pq-air-01", "rule": "qcvn05.so2.1h", "event": "open",
            "id": "pq-air-01/qcvn05.so2.1h/1772420400", "t": 1772420400}
    alert = Point("alert", {"station": "pq-air-01", "rule": "qcvn05.so2.1h"},
                  {"state": "open"}, 1772420400, note=note)
    key, doc = messages.alert_doc(alert, "phu-quoc", "PQ-KK01", TZ)
    assert key == "alert/pq-air-01/qcvn05.so2.1h/1772420400/open"
    assert (doc["time"], doc["station_code"], doc["alert"]) == \
        ("2026-03-02T10:00:00+07:00", "PQ-KK01", note)
    aqi = Point("aqi", {"station": "pq-air-01", "period": "hour"},
                {"aqi": 144, "band": "poor", "dominant": "so2", "sub_so2": 144}, 1772420400)
    k1, d1 = messages.index_doc(aqi, "phu-quoc", "PQ-KK01", TZ)
    assert (d1["aqi"], d1["sub"], d1["period"]) == (144, {"so2": 144}, "hour")
    same = messages.index_doc(Point(aqi.measurement, aqi.tags, dict(aqi.fields), aqi.time),
                              "phu-quoc", "PQ-KK01", TZ)[0]
    fixed = messages.index_doc(Point("aqi", aqi.tags, {**aqi.fields, "aqi": 150}, aqi.time),
                               "phu-quoc", "PQ-KK01", TZ)[0]
    assert k1 == same != fixed and k1.startswith("aqi/pq-air-01/1772420400/")
    # the day's AQI ends at the same midnight as its last hour: its own key, beside the hour's
    day = Point("aqi", {"station": "pq-air-01", "period": "day"},
                {"aqi": 90, "band": "moderate", "dominant": "pm10", "sub_pm10": 90}, 1772420400)
    kd, dd = messages.index_doc(day, "phu-quoc", "X", TZ)
    assert kd.startswith("aqi/pq-air-01/day/1772420400/") and kd != k1
    assert (dd["period"], dd["aqi"], dd["sub"], dd["colour"]) == \
        ("day", 90, {"pm10": 90}, "#ffff00")
    assert dd["advice"]["band"] == "moderate" and dd["advice"]["health"]["vi"]
    no_pm = Point("aqi", day.tags, {"complete": True, "sub_so2": 20}, 1772420400)
    assert messages.index_doc(no_pm, "phu-quoc", "X", TZ) is None  # no AQI without PM


def test_open_data_days_are_due_after_the_delay_and_caught_up_within_bounds():
    now = 1772420700  # 2026-03-02 10:05 local
    assert due_days(now, date(2026, 2, 27), TZ, 3600, 7) == [date(2026, 2, 28),
                                                               date(2026, 3, 1)]
    assert due_days(now, date(2026, 3, 1), TZ, 3600, 7) == []
    assert due_days(now, None, TZ, 3600, 2) == [date(2026, 2, 28), date(2026, 3, 1)]
    assert due_days(now, None, TZ, 11 * 3600, 1) == [date(2026, 2, 28)]  # 03-01 not yet due
