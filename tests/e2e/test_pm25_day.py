"""A known day of PM2.5 through the whole stack, at 600 × on the fast clock (about 3 minutes).

The particulate simulator streams 0x42 0x4D frames whose PM2.5 replays 22 Jan 2017 at the U.S.
Embassy in Hanoi hour by hour (hil/data/, mean 69 µg/m³; PM10 follows at PM2.5 / 0.6) into the
unix-port firmware of an air station, which publishes through the real Mosquitto to the
collector, which stores into the real InfluxDB and sends Circular 10 files to an FTP server on
loopback. What a department would look for:

- `pm2_5` (and `pm1`) readings, referred to 25 °C and 1 atm with the station's own THP;
- the hourly VN_AQI (NowCast) and the day's VN_AQI, both decided by PM2.5, at the values the
  known day gives (daily 132, "poor"; the last hour 188);
- `PM2,5` lines in the Circular 10 files and PM2.5 rows in the day's open data.
"""

from __future__ import annotations

import csv
import json
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from e2e_wait import wait_for

import boards
from collector.config import Settings
from collector.domain import aqi
from collector.egov import datafile, opendata
from collector.pipeline import Collector
from hil import replay
from hil.fastclock import FastClock
from hil.station import SimulatedStation
from quantrac_common import influxql

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collector"))
from loopback_peers import FtpPeer  # noqa: E402

pytestmark = [pytest.mark.services, pytest.mark.slow]

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATION, CODE = "pq-air-11", "PQ-KK11"
SPEED, SAMPLE_S, REPORT_S = 600, 150, 300
H = 3600
KNOWN = replay.load_day(replay.HANOI_PM25, "2017-01-22")


def rows(env: dict, q: str) -> list[dict]:
    return influxql.rows(influxql.query(env, q))


def egov_path(t: int) -> str:
    stamp = datetime.fromtimestamp(t, TZ).strftime("%Y%m%d%H%M%S")
    return (f"{CODE}/{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}/"
            f"AnGiang_PhuQuoc_{CODE}_{stamp}.txt")


def test_a_known_day_of_pm_frames_gives_pm2_5_readings_aqi_egov_files_and_open_data(
        services, tmp_path):
    # a local day five days back (its records are in the past, away from other tests' data)
    day = (datetime.now(TZ) - timedelta(days=5)).date()
    midnight = int(datetime.combine(day, datetime.min.time(), TZ).timestamp())
    clock = FastClock(SPEED, midnight)
    ftp = FtpPeer(tmp_path / "ftp")
    secret = tmp_path / "egov-secrets.json"
    secret.write_text(json.dumps({"ftp_password": ftp.password}))
    settings = Settings.from_env(services, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-pm25-{uuid.uuid4().hex[:8]}"}},
        "egov": {"enabled": True, "secrets": str(secret), "facility": "PhuQuoc",
                 "station_codes": [f"{STATION}={CODE}"], "ftp_url": ftp.url,
                 "ftp_user": ftp.user, "timeout_s": 5.0, "retry_initial_s": 0.1,
                 "retry_max_s": 1.0, "open_data_formats": []}})
    sim = SimulatedStation(boards.registry().get(STATION), services, tmp_path,
                           sample_s=SAMPLE_S, report_s=REPORT_S, seed=3, clock=clock)
    pm = sim.sims["pm"]
    pm.source = replay.day_source(KNOWN, midnight, clock, pm.source)
    pm.period_s = 0.1  # a frame per station minute at 600 ×, so an hour is its own hour
    collector = Collector(settings)
    day_end = midnight + 24 * H
    try:
        collector.start()
        assert collector.wait_ready(30)
        sim.prepare()
        # The laser's warm-up and sampling window are real seconds: at 600 × the catalog's
        # 15 s and 5 s would be 2.5 h and 50 min of the day. Shortened on this bench only.
        config = json.loads(sim.config_path.read_text())
        (stream,) = [s for s in config["sensors"] if s["id"] == "pm"]
        stream.update(warmup_s=1, sample_s=1)
        sim.config_path.write_text(json.dumps(config))
        sim.launch()

        def day_aqi() -> list[dict]:
            return rows(services, f"SELECT * FROM derived.aqi WHERE station = '{STATION}' "
                                  f"AND period = 'day' AND time = {day_end}s")

        # the day's AQI is final once an hour of the next day has data
        wait_for("the day's final AQI", lambda: clock.now() > day_end + H + 600 and
                 any(r.get("complete") for r in day_aqi()), timeout=24 * H / SPEED + 180)
        sim.stop()
        times = [r["time"] for r in rows(
            services, f"SELECT value FROM reading WHERE station = '{STATION}' AND param = "
                      f"'pm2_5' AND time > {midnight}s AND time <= {day_end}s")]
        files = {f"incoming/{egov_path(t)}" for t in times}
        wait_for("every record's Circular 10 file", lambda: files <= set(ftp.arrivals),
                 timeout=120)
    finally:
        sim.stop()
        collector.stop()
        ftp.close()

    # -- readings: pm2_5 and pm1, referred with the record's own temperature and pressure
    got = rows(services, f"SELECT * FROM reading WHERE station = '{STATION}' AND time > "
                         f"{midnight}s AND time <= {day_end}s GROUP BY param")
    by = {p: [r for r in got if r["param"] == p and r.get("value") is not None]
          for p in ("pm1", "pm2_5", "pm10")}
    assert len(by["pm2_5"]) >= 270  # of 288 five-minute records: the warm-up is minutes
    assert {r["ref"] for r in by["pm2_5"]} == {"station"} and by["pm1"]
    pm10 = {r["time"]: r["raw"] for r in by["pm10"]}
    assert all(r["raw"] <= pm10[r["time"]] for r in by["pm2_5"])  # as the frames carry them
    # hourly means follow the known day (whole µg/m³ on the wire, × 1.00-1.03 for the island's
    # warm air, one record in twelve straddling the hour before)
    means = {int(r["time"]): r["value"] for r in rows(
        services, f"SELECT value, complete FROM derived.mean WHERE station = '{STATION}' AND "
                  f"param = 'pm2_5' AND period = '1h' AND time > {midnight}s AND "
                  f"time <= {day_end}s") if r["complete"]}
    assert len(means) >= 22  # a loaded bench may lose a record or two, not whole hours
    for h in range(1, 24):
        if midnight + (h + 1) * H in means:
            assert means[midnight + (h + 1) * H] == pytest.approx(KNOWN.hours[h], rel=0.08), h

    # -- the hourly and daily VN_AQI, decided by PM2.5
    hourly = rows(services, f"SELECT * FROM derived.aqi WHERE station = '{STATION}' AND "
                            f"period = 'hour' AND time > {midnight + 2 * H}s AND "
                            f"time <= {day_end}s")
    assert len(hourly) >= 20 and {r["dominant"] for r in hourly} == {"pm2_5"}
    last = next(r for r in hourly if r["time"] == day_end)
    assert last["aqi"] == pytest.approx(aqi.hourly_aqi(
        {"pm2_5": list(KNOWN.hours[-12:])}).aqi, abs=6)  # 188: "bad"
    (daily,) = [r for r in rows(services, f"SELECT * FROM derived.aqi WHERE station = "
                                          f"'{STATION}' AND period = 'day' AND time = "
                                          f"{day_end}s")]
    assert (daily["dominant"], daily["band"], daily["complete"]) == ("pm2_5", "poor", True)
    assert daily["aqi"] == pytest.approx(aqi.daily_aqi({"pm2_5": list(KNOWN.hours)}).aqi,
                                         abs=6)  # 132
    assert daily["sub_pm2_5"] > daily["sub_pm10"]

    # -- Circular 10 files: a PM2,5 line with the stored value in each
    noon = midnight + 12 * H
    stamp = datetime.fromtimestamp(noon, TZ).strftime("%Y%m%d%H%M%S")
    text = (ftp.home / "incoming" / egov_path(noon)).read_text()
    (stored,) = [r for r in by["pm2_5"] if r["time"] == noon]
    assert f"PM2,5\t{stored['value']:.1f}\tug/m3\t{stamp}\t00\n" in text
    assert "PM10\t" in text and "PM1\t" not in text

    # -- open data for the day: PM2.5 rows, one per stored reading
    (csv_file,) = opendata.write_day(services, boards.registry().get(STATION), day,
                                     tmp_path / "open", TZ, datafile.load_symbols(),
                                     ("csv",), ("en",))
    table = list(csv.DictReader(csv_file.read_text(encoding="utf-8-sig").splitlines()))
    pm25 = {r["time"]: r["value"] for r in table if r["parameter"] == "PM2,5" and r["value"]}
    assert len(pm25) == len(by["pm2_5"])
    assert float(pm25[datetime.fromtimestamp(noon, TZ).isoformat()]) == \
        pytest.approx(stored["value"])
