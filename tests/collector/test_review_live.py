"""Operator review on the real stack (Mosquitto, collector, InfluxDB, a loopback FTP server):
a station's day of PARAM with two hours far above the rest, then `quantrac data flag` on those
two hours while the collector runs. The flagged hours leave the hourly means, the day's mean,
the daily VN_AQI and the 24-hour limit's alert (recomputed and stored); their Circular 10
files are sent again without the parameter, and the outbox holds both; `quantrac data flags`
lists who and why; open data marks the hours invalid, and the day stays preliminary until
`quantrac data approve`."""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from collector_live import BOOT, SEQ, WAIT_S, influxql, publish, wait_for
from loopback_peers import FtpPeer

from collector.config import Settings
from collector.domain import aqi
from collector.egov.datafile import load_symbols, number
from collector.pipeline import Collector

pytestmark = pytest.mark.services
PARAM = "pm2_5"  # the parameter flagged
STATION, CODE = "pq-air-07", "PQ-KK07"
RULE = f"qcvn05.{PARAM}.24h"
H, GRACE = 3600, 7200
VN = ZoneInfo("Asia/Ho_Chi_Minh")
CLI = [sys.executable, "-c", "from quantrac.cli import main; main()"]
LOW, HIGH = 40.0, 900.0  # the day's level, and the two faulty hours (a clogged inlet)
BAD = (10, 11)  # local hours 10:00-12:00
NOWCAST = 12


def hour(start: int, value: float, station: str = STATION) -> dict:
    """One message: the hour's twelve 5-minute records of PARAM (value, value + 1 in turn)
    and temperature, so every record has a Circular 10 line besides PARAM."""
    return {"v": 1, "st": station, "fw": "0.1.0", "boot": BOOT, "seq": next(SEQ),
            "r": [{"t": start + 300 * (k + 1), "p": 300,
                   "d": {PARAM: [value + k % 2, "ug/m3", 0, 28, 0],
                         "temp": [28.5, "degC", 0, 28, 0]}} for k in range(12)]}


def one(env: dict, q: str) -> dict:
    """The first row, or {} (between a retraction and the point written again)."""
    rows = influxql(env, q)
    return rows[0] if rows else {}


def cli(run_dir, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "data", *args, "--run-dir", str(run_dir)], text=True,
                          capture_output=True, env={**os.environ, **env}, timeout=60)


def test_two_flagged_hours_leave_the_days_means_index_alert_and_files(
        services, session_run_dir, tmp_path):
    env = services
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(session_run_dir / "services.env", run_dir)  # for `quantrac export`
    day = datetime.now(VN).date() - timedelta(days=random.randint(3, 40))
    start = int(datetime(day.year, day.month, day.day, tzinfo=VN).timestamp())
    end = start + 24 * H
    ftp = FtpPeer(tmp_path / "ftp")
    secret = tmp_path / "egov-secrets.json"
    secret.write_text(json.dumps({"ftp_password": ftp.password}))
    settings = Settings.from_env(env, run_dir, {
        "sources": {"mqtt": {"client_id": f"test-review-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}},
        "processors": {"alerts": {"tick_s": 0.5, "day_grace_s": GRACE}},
        "egov": {"enabled": True, "secrets": str(secret), "facility": "PhuQuoc",
                 "station_codes": [f"{STATION}={CODE}"], "ftp_url": ftp.url,
                 "ftp_user": ftp.user, "timeout_s": 3.0, "retry_initial_s": 0.1,
                 "retry_max_s": 0.5, "open_data_formats": []}})
    series = f"station = '{STATION}' AND param = '{PARAM}'"
    hourly = (f"SELECT * FROM derived.mean WHERE {series} AND period = '1h' "
              f"AND time > {start}s AND time <= {end}s")
    day_mean = f"SELECT * FROM derived.mean WHERE {series} AND period = '24h' AND time = {end}s"
    day_aqi = (f"SELECT * FROM derived.aqi WHERE station = '{STATION}' AND period = 'day' "
               f"AND time = {end}s")
    verdict = (f"SELECT * FROM derived.daily_limit WHERE station = '{STATION}' "
               f"AND \"rule\" = '{RULE}' AND time = {end}s")
    alert = (f"SELECT * FROM derived.alert WHERE station = '{STATION}' AND \"rule\" = '{RULE}' "
             f"AND time = {end}s")
    symbol, decimals = load_symbols().params[PARAM]
    bad_times = {start + h * H + 300 * (k + 1) for h in BAD for k in range(12)}
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, STATION, [hour(start + i * H, HIGH if i in BAD else LOW)
                               for i in range(24)])
        publish(env, STATION, [hour(end + GRACE, LOW)])  # the station's clock: the day is over
        wait_for(lambda: influxql(env, alert), "the 24-hour limit's alert")
        wait_for(lambda: len(ftp.arrivals) == 24 * 12 + 12, lambda: f"{len(ftp.arrivals)} files")
        before = one(env, day_mean)
        assert before["value"] == pytest.approx((22 * (LOW + 0.5) + 2 * (HIGH + 0.5)) / 24)
        aqi_before = one(env, day_aqi).get("aqi")
        bad_file = next(text for path, text in ftp.files().items()
                        if datetime.fromtimestamp(min(bad_times), VN).strftime("%Y%m%d%H%M%S")
                        in path)
        assert f"{symbol}\t{number(HIGH, decimals)}\t" in bad_file

        # the last flagged hour's AQI is there before the flag (its absence is checked after)
        last_hour_aqi = (f"SELECT * FROM derived.aqi WHERE station = '{STATION}' AND "
                         f"period = 'hour' AND time = {start + (BAD[-1] + 1) * H}s")
        wait_for(lambda: influxql(env, last_hour_aqi), "the last flagged hour's AQI")

        # the operator flags the two hours while the collector runs
        t_from = datetime(day.year, day.month, day.day, BAD[0], tzinfo=VN)
        t_to = t_from + timedelta(hours=len(BAD))
        done = cli(run_dir, "flag", STATION, PARAM, "--from", t_from.strftime("%Y-%m-%dT%H:%M"),
                   "--to", t_to.strftime("%Y-%m-%dT%H:%M"), "--reason", "inlet clogged",
                   QUANTRAC_OPERATOR="lan.nguyen")
        assert done.returncode == 0, done.stderr

        # the mark itself is stored, with who and why
        mark = f"SELECT * FROM derived.review WHERE station = '{STATION}'"
        wait_for(lambda: influxql(env, mark), "the review point")
        assert {k: one(env, mark).get(k) for k in ("by", "reason", "param", "start", "end")} \
            == {"by": "lan.nguyen", "reason": "inlet clogged", "param": PARAM,
                "start": int(t_from.timestamp()), "end": int(t_to.timestamp())}
        # the hourly means of the two hours: nothing valid left, stored without a value
        def flagged_hours() -> list[dict]:
            return [r for r in influxql(env, hourly)
                    if r["time"] - H in {start + h * H for h in BAD}]
        wait_for(lambda: [r["n"] for r in flagged_hours()] == [0, 0],
                 "the flagged hours' means")
        assert [(r.get("value"), r["complete"], r["records"]) for r in flagged_hours()] == \
            [(None, False, 12)] * 2
        # the last flagged hour has no hourly AQI any more (its NowCast lacks 2 of 3 hours)
        wait_for(lambda: not influxql(env, last_hour_aqi), "the flagged hour's AQI retracted")
        # the day's mean without them, and the daily AQI from it
        wait_for(lambda: one(env, day_mean).get("n") == 22, "the day's mean recomputed")
        assert one(env, day_mean).get("value") == pytest.approx(LOW + 0.5)
        want = aqi.daily_aqi({PARAM: [LOW + 0.5] * 22}).aqi
        wait_for(lambda: one(env, day_aqi).get("aqi") == want,
                 lambda: f"daily AQI {want}, stored {influxql(env, day_aqi)}")
        assert want < aqi_before
        # the day judged again: within the limit, and the alert closed
        wait_for(lambda: one(env, verdict).get("revision") == 2, "the day judged again")
        assert one(env, verdict).get("verdict") == "within"
        wait_for(lambda: any(a["event"] == "close" for a in influxql(env, alert)),
                 lambda: f"the alert closed: {influxql(env, alert)}")
        # the two hours' Circular 10 files again, without the parameter
        wait_for(lambda: sum(ftp.arrivals.values()) == 24 * 12 + 12 + len(bad_times),
                 lambda: f"{sum(ftp.arrivals.values())} files")
        stamps = {datetime.fromtimestamp(t, VN).strftime("%Y%m%d%H%M%S") for t in bad_times}
        corrected = {p: text for p, text in ftp.files().items()
                     if any(s in p for s in stamps)}
        assert len(corrected) == len(bad_times)
        assert all(f"{symbol}\t" not in text and text.startswith("Temp\t28.5")
                   for text in corrected.values())
        assert all(n == 2 for p, n in ftp.arrivals.items() if any(s in p for s in stamps))
    finally:
        c.stop()
        ftp.close()

    # the outbox keeps the first file and its correction
    outbox = b"".join(p.read_bytes() for p in
                      sorted((run_dir / "collector").rglob("egov/outbox/*.log")))
    key = f"{STATION}/{datetime.fromtimestamp(min(bad_times), VN).strftime('%Y%m%d%H%M%S')}"
    assert f'"k":"{key}"'.encode() in outbox and f'"k":"{key}/r1"'.encode() in outbox

    listed = cli(run_dir, "flags")
    assert listed.returncode == 0, listed.stderr
    assert "lan.nguyen" in listed.stdout and "inlet clogged" in listed.stdout
    assert f"{STATION}  {PARAM} invalid {t_from.isoformat(timespec='minutes')}" in listed.stdout

    def export() -> list[dict]:
        out = tmp_path / f"open-{uuid.uuid4().hex[:6]}"
        done = subprocess.run([*CLI, "export", "--station", STATION, "--from", day.isoformat(),
                               "--lang", "en", "--out", str(out), "--run-dir", str(run_dir)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        (path,) = out.rglob("*.csv")
        return list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines()))

    rows = export()
    in_bad = [r for r in rows if int(datetime.fromisoformat(r["time"]).timestamp()) in bad_times]
    pm = [r for r in in_bad if r["parameter"] == symbol]
    assert len(pm) == len(bad_times) and {r["review"] for r in pm} == {"invalid"}
    assert float(pm[0]["value"]) >= HIGH  # kept, marked: users filter
    assert {r["review"] for r in rows if r not in pm} == {"preliminary"}

    approved = cli(run_dir, "approve", STATION, "--date", day.isoformat(), "--by", "an.tran")
    assert approved.returncode == 0, approved.stderr
    rows = export()
    assert {r["review"] for r in rows if r["parameter"] != symbol or
            int(datetime.fromisoformat(r["time"]).timestamp()) not in bad_times} == {"approved"}
    assert {r["review"] for r in rows if r["parameter"] == symbol and
            int(datetime.fromisoformat(r["time"]).timestamp()) in bad_times} == {"invalid"}


def test_a_flag_older_than_the_window_is_recomputed_from_the_stored_readings(
        services, session_run_dir, tmp_path):
    """The collector has moved on (its newest record is now, its window 48 hours): a flag on a
    day two weeks back recomputes that day's means and VN_AQI from InfluxDB."""
    env, station = services, "pq-air-08"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(session_run_dir / "services.env", run_dir)  # the read login, for the worker
    day = datetime.now(VN).date() - timedelta(days=random.randint(10, 40))
    start = int(datetime(day.year, day.month, day.day, tzinfo=VN).timestamp())
    end = start + 24 * H
    settings = Settings.from_env(env, run_dir, {
        "sources": {"mqtt": {"client_id": f"test-review-old-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}}})
    series = f"station = '{station}' AND param = '{PARAM}'"
    hourly = (f"SELECT * FROM derived.mean WHERE {series} AND period = '1h' "
              f"AND time > {start}s AND time <= {end}s")
    day_mean = f"SELECT * FROM derived.mean WHERE {series} AND period = '24h' AND time = {end}s"
    aqi_at = (f"SELECT * FROM derived.aqi WHERE station = '{station}' AND period = '%s' "
              "AND time = %ds")
    last_bad = start + BAD[-1] * H  # the start of the last flagged hour
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, station, [hour(start + i * H, HIGH if i in BAD else LOW, station)
                               for i in range(24)])
        wait_for(lambda: influxql(env, day_mean) and influxql(env, aqi_at % ("day", end)),
                 "the old day's mean and AQI")
        now_hour = int(time.time()) // H * H - 2 * H
        publish(env, station, [hour(now_hour, LOW, station)])  # the window moves on
        wait_for(lambda: influxql(env, f"{hourly.split(' AND time')[0]} AND time = "
                                       f"{now_hour + H}s"), "today's hourly mean")
        assert one(env, day_mean).get("n") == 24
        hour_aqi_before = one(env, aqi_at % ("hour", last_bad + H)).get("aqi")

        t_from = datetime(day.year, day.month, day.day, BAD[0], tzinfo=VN)
        done = cli(run_dir, "flag", station, PARAM, "--from", t_from.isoformat(), "--to",
                   (t_from + timedelta(hours=len(BAD))).isoformat(), "--reason",
                   "known fault", "--by", "lan.nguyen")
        assert done.returncode == 0, done.stderr

        wait_for(lambda: one(env, day_mean).get("n") == 22, "the old day's mean")
        assert one(env, day_mean).get("value") == pytest.approx(LOW + 0.5)
        assert one(env, day_mean).get("provisional") is False
        flagged = [r for r in influxql(env, hourly)
                   if r["time"] - H in {start + h * H for h in BAD}]
        assert [(r["n"], r["complete"]) for r in flagged] == [(0, False)] * 2
        want_day = aqi.daily_aqi({PARAM: [LOW + 0.5] * 22}).aqi
        wait_for(lambda: one(env, aqi_at % ("day", end)).get("aqi") == want_day,
                 lambda: f"daily AQI {want_day}: {influxql(env, aqi_at % ('day', end))}")
        assert [r.get("value") for r in flagged] == [None, None]
        # the NowCast of the last flagged hour and of the next lack 2 of their last 3 hours:
        # no AQI any more; two hours on, it is back, without the flagged hours
        assert aqi.hourly_aqi({PARAM: [LOW + 0.5] * (NOWCAST - 2) + [None] * 2}).aqi is None
        assert influxql(env, aqi_at % ("hour", last_bad + H)) == []
        assert influxql(env, aqi_at % ("hour", last_bad + 2 * H)) == []
        window = [LOW + 0.5] * (NOWCAST - 4) + [None] * 2 + [LOW + 0.5] * 2
        want_next = aqi.hourly_aqi({PARAM: window}).aqi
        assert want_next is not None
        assert one(env, aqi_at % ("hour", last_bad + 3 * H)).get("aqi") == want_next
        assert hour_aqi_before > 300  # the clogged inlet's 900 µg/m³ made it hazardous
    finally:
        c.stop()
