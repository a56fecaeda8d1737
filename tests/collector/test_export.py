"""`quantrac export` against the session's real InfluxDB: readings written through the
collector's own sink come back as one open-data file per station and local day, Vietnamese or
English headers, the local day's records only (after its midnight up to the next); bad
arguments get a clear error."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from collector.config import Settings
from collector.contracts import Reading
from collector.egov.plugin import EgovModule
from collector.sinks.influxdb.plugin import InfluxSink
from quantrac.cli import main

pytestmark = pytest.mark.services
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATION = "pq-air-12"


def at(day: date, hhmm: str) -> int:
    return int(datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), TZ).timestamp())


@pytest.fixture(scope="module")
def days(services):
    """Two local days, 100-200 days back, holding a few readings of STATION."""
    d1 = date.today() - timedelta(days=random.randint(100, 200))
    d2 = d1 + timedelta(days=1)
    rows = [(at(d1, "00:00"), "so2", 11.0, "ug/Nm3", 0, 1),  # ends the day before: not in d1
            (at(d1, "00:05"), "so2", 32.75, "ug/Nm3", 0, 1),
            (at(d1, "00:05"), "pm10", 35.1, "ug/m3", 1, 4),
            (at(d1, "12:00"), "so2", None, "ug/Nm3", 2, 9),
            (at(d2, "00:00"), "pm10", 41.0, "ug/m3", 0, 3),  # the last record of d1
            (at(d2, "08:00"), "temp", 29.5, "degC", 0, 1)]
    env = services
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    readings = [Reading(STATION, "air", p, u, t, v, s, qc=qc) for t, p, v, u, s, qc in rows]
    try:
        result = sink.write(readings)
    finally:
        sink.close()
    assert len(result.accepted) == len(readings), result.error
    return d1, d2


def export(run_dir, *args: str):
    return CliRunner().invoke(main, ["export", "--run-dir", str(run_dir), *args])


def test_each_local_day_becomes_one_csv_with_vietnamese_headers(session_run_dir, days,
                                                                  tmp_path):
    d1, d2 = days
    got = export(session_run_dir, "--station", STATION, "--from", d1.isoformat(), "--to",
                 d2.isoformat(), "--out", str(tmp_path))
    assert got.exit_code == 0, got.output
    f1 = tmp_path / STATION / f"{d1:%Y}" / f"{STATION}_{d1.isoformat()}_vi.csv"
    f2 = tmp_path / STATION / f"{d2:%Y}" / f"{STATION}_{d2.isoformat()}_vi.csv"
    assert sorted(tmp_path.rglob("*.csv")) == sorted([f1, f2])
    raw = f1.read_bytes()
    assert raw.startswith("\ufeff".encode())  # BOM: spreadsheets read the accents right
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table == [
        ["Trạm", "Thời gian", "Thông số", "Giá trị", "Đơn vị", "Trạng thái thiết bị",
         "Cờ chất lượng", "Kiểm duyệt"],
        [STATION, f"{d1}T00:05:00+07:00", "PM10", "35.1", "ug/m3", "01", "4", "preliminary"],
        [STATION, f"{d1}T00:05:00+07:00", "SO2", "32.75", "ug/Nm3", "00", "1", "preliminary"],
        [STATION, f"{d1}T12:00:00+07:00", "SO2", "", "ug/Nm3", "02", "9", "preliminary"],
        [STATION, f"{d2}T00:00:00+07:00", "PM10", "41.0", "ug/m3", "00", "3", "preliminary"]]
    assert str(f1) in got.output


def test_json_with_english_headers(session_run_dir, days, tmp_path):
    _, d2 = days
    got = export(session_run_dir, "--station", STATION, "--from", d2.isoformat(),
                 "--format", "json", "--lang", "en", "--out", str(tmp_path))
    assert got.exit_code == 0, got.output
    doc = json.loads((tmp_path / STATION / f"{d2:%Y}" /
                      f"{STATION}_{d2.isoformat()}_en.json").read_text())
    assert (doc["station"]["id"], doc["date"], doc["lang"]) == (STATION, d2.isoformat(), "en")
    assert doc["columns"] == ["station", "time", "parameter", "value", "unit", "device_status",
                              "qc_flag", "review"]
    assert doc["rows"] == [[STATION, f"{d2}T08:00:00+07:00", "Temp", 29.5, "degC", "00", 1,
                            "preliminary"]]
    assert doc["review"] == {"status": "preliminary", "invalid": []}
    assert "Circular 10/2021" in doc["about"]


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-13-01"], "'2026-13-01' is not a date (YYYY-MM-DD)"),
    (["--from", "2026-03-02", "--to", "2026-03-01"], "2026-03-01 is before --from 2026-03-02"),
    (["--from", "2026-03-02", "--station", "pq-air-99"], "pq-air-99 not in registry"),
])
def test_bad_arguments_are_named(session_run_dir, services, tmp_path, args, message):
    got = export(session_run_dir, *args, "--out", str(tmp_path))
    assert got.exit_code == 2 and message in got.output


def test_the_egov_module_writes_each_day_in_both_languages_and_formats(services, days,
                                                                       tmp_path):
    d1, _ = days
    settings = Settings.from_env(services, tmp_path, {"egov": {
        "enabled": True, "open_data_dir": str(tmp_path / "open-data")}})
    env = dataclasses.replace(settings.env_for("egov"), services=lambda: services)
    module = EgovModule(settings.egov, env, spool=None)
    try:
        assert module.produce_open_data(d1)
    finally:
        module.stop()
    mine = sorted(p.name for p in (tmp_path / "open-data" / STATION).rglob("*.*"))
    assert mine == [f"{STATION}_{d1.isoformat()}_{lang}.{fmt}"
                    for lang in ("en", "vi") for fmt in ("csv", "json")]
    assert module.stats()["open_data"]["last_day"] == d1.isoformat()
    en = (tmp_path / "open-data" / STATION / f"{d1:%Y}" / f"{STATION}_{d1}_en.csv").read_text(
        encoding="utf-8-sig")
    assert en.splitlines()[0] == \
        "station,time,parameter,value,unit,device_status,qc_flag,review"


def test_open_data_already_written_is_written_again_when_a_mark_touches_its_day(
        services, days, tmp_path):
    from collector.review import marks

    d1, _ = days
    settings = Settings.from_env(services, tmp_path, {"egov": {
        "enabled": True, "open_data_dir": str(tmp_path / "open-data")}})
    env = dataclasses.replace(settings.env_for("egov"), services=lambda: services)
    module = EgovModule(settings.egov, env, spool=None)
    en = tmp_path / "open-data" / STATION / f"{d1:%Y}" / f"{STATION}_{d1}_en.csv"

    def review_column() -> dict[tuple[str, str], str]:
        rows = csv.DictReader(io.StringIO(en.read_text(encoding="utf-8-sig")))
        return {(r["time"][11:16], r["parameter"]): r["review"] for r in rows}

    try:
        assert module.produce_open_data(d1)
        assert set(review_column().values()) == {"preliminary"}
        # a fault of the PM10 monitor at 00:00-00:05, found later; then the day approved
        path = marks.path(tmp_path)
        marks.append(path, marks.flag(STATION, "pm10", at(d1, "00:00"), at(d1, "00:05"),
                                      "known fault", "lan", at(d1, "12:00") + 86400))
        module._corrections()
        assert review_column() == {("00:05", "SO2"): "preliminary",
                                   ("00:05", "PM10"): "invalid",
                                   ("12:00", "SO2"): "preliminary",
                                   ("00:00", "PM10"): "preliminary"}
        marks.append(path, marks.approve(STATION, d1, "an", at(d1, "12:00") + 2 * 86400, TZ))
        module._corrections()
        assert review_column() == {("00:05", "SO2"): "approved", ("00:05", "PM10"): "invalid",
                                   ("12:00", "SO2"): "approved", ("00:00", "PM10"): "approved"}
        doc = json.loads(en.with_suffix(".json").read_text())
        assert (doc["review"]["status"], doc["review"]["approved_by"]) == ("approved", "an")
        assert doc["review"]["invalid"][0]["reason"] == "known fault"
    finally:
        module.stop()
