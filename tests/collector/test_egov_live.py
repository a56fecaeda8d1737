"""The e-gov module end to end: a station publishes through the session's real Mosquitto, the
collector stores and spools, and the module delivers to real servers on loopback.

- Circular 10/2021 files by FTP: the FTP server (pyftpdlib) is stopped while the station
  publishes 35 minutes of backdated 5-minute records (station time) and one of them twice;
  once it is back, every cycle's file arrives exactly once with the right content.
- A collector killed with SIGKILL mid-upload resumes its outbox: every file once, none lost.
- An hour above the SO2 limit: the alert and the hourly VN_AQI reach the REST endpoint with
  their idempotency keys.
- A whole day of PM10: the daily VN_AQI reaches the endpoint once, under its own key, beside
  the hourly one that ends at the same midnight.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from collector_live import WAIT_S, publish, wait_for
from loopback_peers import ApiPeer, FtpPeer

from collector.config import Settings
from collector.pipeline import Collector
from quantrac.bench.common import stop_processes

pytestmark = pytest.mark.services
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CLI = [sys.executable, "-c", "from quantrac.cli import main; main()"]


def cycle(station: str, boot: str, seq: int, t: int, i: int) -> dict:
    """A wastewater station's 5-minute record; values move with the cycle number `i`."""
    return {"v": 1, "st": station, "fw": "0.1.0", "boot": boot, "seq": seq,
            "r": [{"t": t, "p": 300, "d": {
                "ph": [7 + i / 100, "pH", 0, 30, 0], "temp": [28.5, "degC", 0, 30, 0],
                "do": [5.25, "mg/L", 0, 30, 0], "tss": [40.0 + i, "mg/L", 1 if i == 4 else 0,
                                                       30, 0],
                "nh4": [1.5 + i / 1000, "mg/L", 0, 30, 0]}}]}


def expected_file(code: str, t: int, i: int) -> tuple[str, str]:
    """What the department must receive for cycle `i`: folder/name and the TAB lines."""
    stamp = datetime.fromtimestamp(t, TZ).strftime("%Y%m%d%H%M%S")
    path = f"{code}/{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}/AnGiang_PhuQuoc_{code}_{stamp}.txt"
    tss_status = "01" if i == 4 else "00"
    return path, (f"pH\t{7 + i / 100:.2f}\t-\t{stamp}\t00\n"
                  f"TSS\t{40 + i:.1f}\tmg/L\t{stamp}\t{tss_status}\n"
                  f"NH4\t{1.5 + i / 1000:.3f}\tmg/L\t{stamp}\t00\n"
                  f"DO\t5.25\tmg/L\t{stamp}\t00\n"
                  f"Temp\t28.5\toC\t{stamp}\t00\n")


def egov_options(tmp_path: Path, ftp: FtpPeer, code: str, station: str) -> dict:
    secret = tmp_path / "egov-secrets.json"
    secret.write_text(json.dumps({"ftp_password": ftp.password}))
    return {"enabled": True, "secrets": str(secret), "facility": "PhuQuoc",
            "station_codes": [f"{station}={code}"], "ftp_url": ftp.url,
            "ftp_user": ftp.user, "timeout_s": 3.0, "retry_initial_s": 0.1,
            "retry_max_s": 0.5, "open_data_formats": []}


def test_after_a_35_minute_ftp_outage_every_cycle_arrives_once(services, tmp_path):
    env, station, code = services, "pq-ww-04", "PQ-NT04"
    ftp = FtpPeer(tmp_path / "ftp")
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-egov-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}},
        "egov": egov_options(tmp_path, ftp, code, station)})
    t0 = (int(time.time()) - 2 * 86400) // 3600 * 3600
    times = [t0 + 300 * (i + 1) for i in range(9)]
    boot = secrets.token_hex(4)
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, station, [cycle(station, boot, i, times[i], i) for i in range(2)])
        wait_for(lambda: len(ftp.arrivals) == 2, lambda: f"2 files, got {dict(ftp.arrivals)}")

        ftp.stop()  # the department's server is down for cycles 2-8: 35 minutes of records
        publish(env, station, [cycle(station, boot, i, times[i], i) for i in range(2, 9)])
        publish(env, station, [cycle(station, boot, 100, times[3], 3)])  # cycle 3 sent again
        wait_for(lambda: c.outputs.stats()["egov_ftp"]["waiting"] == 7 and
                 c.outputs.stats()["egov_ftp"]["state"] == "retrying",
                 lambda: f"7 files waiting, {c.outputs.stats()['egov_ftp']}")
        assert "Connection refused" in c.outputs.stats()["egov_ftp"]["last_error"]

        ftp.start()  # back on the same port
        wait_for(lambda: len(ftp.arrivals) == 9, lambda: f"9 files, got {dict(ftp.arrivals)}")
        wait_for(lambda: c.outputs.stats()["egov_ftp"]["waiting"] == 0, "the outbox to empty")
        assert c.outputs.stats()["egov_ftp"]["delivered"] == 9
    finally:
        c.stop()
        ftp.close()
    want = dict(expected_file(code, times[i], i) for i in range(9))
    assert dict(ftp.arrivals) == {f"incoming/{p}": 1 for p in want}
    assert ftp.files() == want


def test_a_killed_collector_resumes_its_outbox_without_loss_or_duplicates(
        services, session_run_dir, tmp_path):
    env, station, code = services, "pq-tap-04", "PQ-NC04"
    run_dir = tmp_path / "run"  # its own, so its log and secrets stay in this test's folder
    run_dir.mkdir()
    shutil.copy(session_run_dir / "services.env", run_dir)
    ftp = FtpPeer(tmp_path / "ftp", stor_delay_s=0.15)  # slow uploads: the kill lands mid-way
    opts = egov_options(tmp_path, ftp, code, station)
    config = tmp_path / "collector.toml"
    config.write_text(
        f'[collector]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[sources.mqtt]\nclient_id = "t-egov-{uuid.uuid4().hex[:6]}"\n'
        "[sinks.influxdb]\nretry_initial_s = 0.2\nretry_max_s = 1.0\n"
        "[egov]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in opts.items()))
    t0 = (int(time.time()) - 3 * 86400) // 3600 * 3600
    times = [t0 + 300 * (i + 1) for i in range(12)]
    boot = secrets.token_hex(4)
    procs: list[subprocess.Popen] = []

    def run(log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen([*CLI, "collector", "run", "--run-dir", str(run_dir),
                                     "--config", str(config)], stdout=out,
                                    stderr=subprocess.STDOUT)
        procs.append(proc)
        wait_for(lambda: "connected to" in log.read_text() or proc.poll() is not None,
                 "the collector to connect")
        assert proc.poll() is None, log.read_text()
        return proc

    try:
        first = run(tmp_path / "run-1.log")
        publish(env, station, [cycle(station, boot, i, times[i], i) for i in range(12)])
        wait_for(lambda: len(ftp.arrivals) >= 3, "the first uploads")
        first.kill()  # SIGKILL, mid-upload: no cleanup of any kind
        first.wait()
        assert len(ftp.arrivals) < 12, "the kill came too late to prove anything"
        run(tmp_path / "run-2.log")
        wait_for(lambda: len(ftp.arrivals) == 12, lambda: f"12 files, got {len(ftp.arrivals)}")
    finally:
        stop_processes(procs, WAIT_S)
        ftp.close()
    want = dict(expected_file(code, times[i], i) for i in range(12))
    assert dict(ftp.arrivals) == {f"incoming/{p}": 1 for p in want}
    assert ftp.files() == want


def test_an_alert_and_the_hourly_aqi_reach_the_endpoint_once(services, tmp_path):
    env, station = services, "pq-air-16"
    api = ApiPeer()
    secret = tmp_path / "egov-secrets.json"
    secret.write_text(json.dumps({"client_secret": api.client_secret}))
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-egov-api-{uuid.uuid4().hex[:8]}"}},
        "egov": {"enabled": True, "secrets": str(secret), "api_url": api.url,
                 "token_url": api.token_url, "client_id": api.client_id,
                 "retry_initial_s": 0.1, "retry_max_s": 0.5, "open_data_formats": []}})
    h0 = int(time.time()) // 3600 * 3600 - 3600
    boot = secrets.token_hex(4)
    # an hour of clean air, then an hour of 200 ppb SO2 (524 µg/Nm³, above the 1-hour limit
    # of 350); the PM10 NowCast, and so the AQI, needs the two hours
    msgs = [{"v": 1, "st": station, "fw": "0.1.0", "boot": boot, "seq": i,
             "r": [{"t": h0 - 3600 + 300 * (i + 1), "p": 300,
                    "d": {"so2": [200.0 if i >= 12 else 5.0, "ppb", 0, 30, 0],
                          "pm10": [40.0, "ug/m3", 0, 28, 0]}}]} for i in range(24)]
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, station, msgs)
        end = h0 + 3600
        alert_key = f"alert/{station}/qcvn05.so2.1h/{end}/open"
        wait_for(lambda: alert_key in api.accepted_keys() and
                 any(k.startswith(f"aqi/{station}/{end}/") for k in api.accepted_keys()),
                 lambda: f"the alert and the AQI, got {api.accepted_keys()}")
    finally:
        c.stop()
        api.close()
    docs = dict(api.accepted)
    alert = docs[alert_key]
    assert (alert["type"], alert["station"], alert["alert"]["state"], alert["t"]) == \
        ("alert", station, "open", end)
    (aqi,) = [d for k, d in api.accepted if k.startswith(f"aqi/{station}/{end}/")]
    assert (aqi["aqi"], aqi["dominant"], aqi["sub"]["so2"]) == (144, "so2", 144)
    assert aqi["review"] == "preliminary"  # not yet approved by an operator
    hours = [d["t"] for d in docs.values() if d["type"] == "aqi" and d["period"] == "hour"]
    assert hours == sorted(set(hours)) and max(hours) == end  # no hour past the records


def test_the_daily_aqi_reaches_the_endpoint_beside_the_hourly_ones(services, tmp_path):
    # A whole local day of PM10 through broker and collector: once the station's records pass
    # midnight, the day's VN_AQI (from the hourly means the test sent) arrives once under its
    # own key, and the hour ending at that midnight keeps its hourly key.
    from datetime import date, timedelta
    from statistics import fmean

    from collector.domain import aqi

    env, station = services, "pq-air-07"  # no other test publishes for it
    api = ApiPeer()
    secret = tmp_path / "egov-secrets.json"
    secret.write_text(json.dumps({"client_secret": api.client_secret}))
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-egov-day-{uuid.uuid4().hex[:8]}"}},
        "egov": {"enabled": True, "secrets": str(secret), "api_url": api.url,
                 "token_url": api.token_url, "client_id": api.client_id,
                 "retry_initial_s": 0.1, "retry_max_s": 0.5, "open_data_formats": []}})
    day = date.today() - timedelta(days=20)
    day0 = int(datetime.combine(day, datetime.min.time(), TZ).timestamp())
    midnight = day0 + 86400
    boot = secrets.token_hex(4)

    def pm10(k: int) -> float:  # the k-th record's value: each hour's mean is 60 + hour
        return 60.0 + (k - 1) // 12 % 24 + ((k - 1) % 12 - 5.5) / 10

    recs = [{"t": day0 + 300 * k, "p": 300, "d": {"pm10": [pm10(k), "ug/m3", 0, 28, 0]}}
            for k in range(1, 25 * 12 + 1)]  # the day and the next day's first hour
    msgs = [{"v": 1, "st": station, "fw": "0.1.0", "boot": boot, "seq": i,
             "r": recs[i * 12:(i + 1) * 12]} for i in range(25)]
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, station, msgs)
        wait_for(lambda: any(k.startswith(f"aqi/{station}/day/{midnight}/")
                             for k in api.accepted_keys()) and
                 any(k.startswith(f"aqi/{station}/{midnight}/") for k in api.accepted_keys()),
                 lambda: f"the day's and the last hour's AQI, got {api.accepted_keys()}")
    finally:
        c.stop()
        api.close()
    hours = [fmean(pm10(h * 12 + j + 1) for j in range(12)) for h in range(24)]
    want = aqi.daily_aqi({"pm10": [None] * 7 + hours})
    (doc,) = [d for k, d in api.accepted if k.startswith(f"aqi/{station}/day/")]
    assert (doc["period"], doc["t"], doc["aqi"], doc["dominant"]) == \
        ("day", midnight, want.aqi, "pm10")
    assert doc["time"] == datetime.fromtimestamp(midnight, TZ).isoformat()
    assert doc["advice"]["health"]["vi"] and doc["colour"].startswith("#")
    (last_hour,) = [d for k, d in api.accepted if k.startswith(f"aqi/{station}/{midnight}/")]
    assert last_hour["period"] == "hour"
