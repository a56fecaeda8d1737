"""Open data carries what the day's VN_AQI means (Decision 1459, Bảng 3 to 5), against the
session's real InfluxDB: a station-day with readings and a daily AQI, exported as JSON, has the
AQI with the band's colour, the health message and the recommended activities for the general
public and sensitive groups, in the file's language; a day without an AQI has none."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from collector.contracts import Point, Reading
from collector.sinks.influxdb.plugin import InfluxSink
from quantrac.cli import main

pytestmark = pytest.mark.services
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATION = "pq-air-13"


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), TZ).timestamp())


def test_the_open_data_json_carries_the_days_aqi_with_its_colour_and_messages(
        services, session_run_dir, tmp_path):
    env = services
    day = date.today() - timedelta(days=random.randint(210, 300))
    plain = day + timedelta(days=1)  # readings, no AQI
    end = midnight(day + timedelta(days=1))
    items = [Reading(STATION, "air", "pm10", "ug/m3", midnight(day) + 300, 160.0, 0, qc=1),
             Reading(STATION, "air", "pm10", "ug/m3", end + 300, 20.0, 0, qc=1),
             Point("aqi", {"station": STATION, "period": "day"},
                   {"aqi": 205, "band": "very_bad", "dominant": "pm10", "complete": True,
                    "sub_pm10": 205}, end)]
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        result = sink.write(items)  # type: ignore[arg-type]
    finally:
        sink.close()
    assert len(result.accepted) == len(items), result.error

    for lang in ("vi", "en"):
        got = CliRunner().invoke(main, [
            "export", "--run-dir", str(session_run_dir), "--station", STATION, "--from",
            day.isoformat(), "--to", plain.isoformat(), "--format", "json", "--lang", lang,
            "--out", str(tmp_path)])
        assert got.exit_code == 0, got.output
        folder = tmp_path / STATION / f"{day:%Y}"
        doc = json.loads((folder / f"{STATION}_{day}_{lang}.json").read_text())
        a = doc["aqi"]
        assert (a["aqi"], a["band"], a["colour"], a["dominant"]) == \
            (205, "very_bad", "#8f3f97", "pm10")
        if lang == "vi":
            assert a["label"] == "Rất xấu"
            assert a["health"].startswith("Cảnh báo hưởng tới sức khỏe")  # verbatim, typo too
            assert a["general"].startswith("Mọi người hạn chế tối đa các hoạt động ngoài trời")
            assert a["sensitive"] == "Nên ở trong nhà và giảm hoạt động mạnh."
        else:
            assert a["label"] == "Very bad"
            assert a["health"] == "Health warning: everyone experiences more serious health " \
                                  "effects."
            assert a["sensitive"] == "Stay indoors and reduce strenuous activity."
        assert a["missing"] == []
        other = json.loads((tmp_path / STATION / f"{plain:%Y}" /
                            f"{STATION}_{plain}_{lang}.json").read_text())
        assert "aqi" not in other
