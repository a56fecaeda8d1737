"""Noise against the session's real broker and InfluxDB. Records published as the station over the
broker: hourly LAeq, one night alert, periods judged. A night-market day run through
the collector's aggregate and alerts stages, stored by the real sink, exported as JSON, carries
each regulation period that ended that day with its LAeq, its limit and the verdict."""

from __future__ import annotations

import json
import math
import random
import secrets
import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from collector_live import WAIT_S, publish, wait_for

from collector.config import Settings
from collector.contracts import QC_GOOD, Batch, Reading
from collector.pipeline import Collector
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.processors.alerts.plugin import AlertsProcessor
from collector.sinks.influxdb.plugin import InfluxSink
from quantrac.cli import main
from quantrac_common import influxql

pytestmark = pytest.mark.services
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATION = "pq-air-02"


def local(day: date, hour: int) -> int:
    return int((datetime.combine(day, time(0), TZ) + timedelta(hours=hour)).timestamp())


def stored(env: dict, q: str) -> list[dict]:
    return influxql.rows(influxql.query(env, q))


def night_market(day: date) -> tuple[list, list[float], list[float]]:
    """Readings and the points the stages make of them: 6:00 on `day` to 7:00 the next day,
    five-minute LAeq records, loud in the evening; (items, day hours, night hours)."""
    rnd = random.Random(day.toordinal())
    agg, alerts = AggregateProcessor("phu-quoc"), AlertsProcessor("phu-quoc")
    items: list = []
    hourly: list[float] = []
    for h in range(6, 31):
        base = 66.0 if 17 <= h < 24 else (58.0 if h < 21 else 47.0)
        levels = [round(base + rnd.uniform(-3, 3), 1) for _ in range(12)]
        readings = [Reading(STATION, "air", "laeq", "dBA", local(day, h) + 300 * (i + 1), v,
                            0, qc=QC_GOOD, n=300) for i, v in enumerate(levels)]
        batch = alerts.process(agg.process(Batch([], readings=readings)))
        items += readings + batch.points
        hourly.append(10 * math.log10(sum(10 ** (x / 10) for x in levels) / 12))
    return items, hourly[:15], hourly[15:24]


def test_the_open_data_json_carries_the_days_noise_periods(services, session_run_dir,
                                                            tmp_path):
    env = services
    day = date.today() - timedelta(days=random.randint(40, 300))
    items, day_hours, night_hours = night_market(day)
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        result = sink.write(items)
    finally:
        sink.close()
    assert len(result.accepted) == len(items), result.error

    nxt = day + timedelta(days=1)
    for lang, label in (("en", "day (6–21 h)"), ("vi", "ban ngày (6–21 h)")):
        got = CliRunner().invoke(main, [
            "export", "--run-dir", str(session_run_dir), "--station", STATION, "--from",
            day.isoformat(), "--to", nxt.isoformat(), "--format", "json", "--lang", lang,
            "--out", str(tmp_path)])
        assert got.exit_code == 0, got.output
        doc = json.loads((tmp_path / STATION / f"{day:%Y}" /
                          f"{STATION}_{day}_{lang}.json").read_text())
        (judged,) = doc["noise"]  # the day period ended at 21:00; the night ends tomorrow
        assert (judged["period"], judged["label"], judged["regulation"], judged["area"]) == \
            ("day", label, "QCVN 26:2010/BTNMT", "normal")
        want = 10 * math.log10(sum(10 ** (x / 10) for x in day_hours) / 15)
        assert judged["laeq"] == pytest.approx(want, abs=0.1)
        assert (judged["limit"], judged["exceeded"], judged["hours"]) == (70, False, 15)
        night = json.loads((tmp_path / STATION / f"{nxt:%Y}" /
                            f"{STATION}_{nxt}_{lang}.json").read_text())["noise"]
        (n,) = night
        assert n["period"] == "night" and n["exceeded"] is True and n["limit"] == 55
        want = 10 * math.log10(sum(10 ** (x / 10) for x in night_hours) / 9)
        assert n["laeq"] == pytest.approx(want, abs=0.1)


def test_the_daily_bulletin_lists_the_noise_periods_and_the_noise_alert(services,
                                                                      session_run_dir,
                                                                      tmp_path):
    env = services
    day = date.today() - timedelta(days=random.randint(301, 330))
    items, day_hours, night_hours = night_market(day)
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        assert len(sink.write(items).accepted) == len(items)
    finally:
        sink.close()
    nxt = day + timedelta(days=1)
    got = CliRunner().invoke(main, ["report", "daily", "--date", nxt.isoformat(), "--station",
                                    STATION, "--lang", "en", "--run-dir",
                                    str(session_run_dir), "--out", str(tmp_path)])
    assert got.exit_code == 0, got.output
    text = (tmp_path / f"bulletin_daily_{nxt}_en.md").read_text()
    section = text.split("Noise (LAeq by period of the day)")[1].split("###")[0]
    want = 10 * math.log10(sum(10 ** (x / 10) for x in night_hours) / 9)
    assert f"night (21–6 h) | QCVN 26:2010/BTNMT | normal | {want:.1f} | 55 | above | 9/9" \
        in section
    got = CliRunner().invoke(main, ["report", "daily", "--date", day.isoformat(), "--station",
                                    STATION, "--lang", "en", "--run-dir",
                                    str(session_run_dir), "--out", str(tmp_path)])
    text = (tmp_path / f"bulletin_daily_{day}_en.md").read_text()
    assert "day (6–21 h) | QCVN 26:2010/BTNMT | normal" in text and "| within | 15/15" in text
    alerts = text.split("### Alerts")[1]
    assert "qcvn26_2010.laeq.night | open" in alerts
    assert "above the QCVN 26:2010/BTNMT night (21–6 h) limit of 55 dBA" in alerts


def test_a_night_market_evening_published_as_the_station_opens_and_closes_one_night_alert(
        services, tmp_path):
    """Records as the firmware sends them (six sound levels per 5-minute record, dBA), over the
    real broker to the real collector: the hourly LAeq is the energy mean of the records, the
    night alert opens once at 22:00 and closes after midnight, the day and night are judged."""
    env = services
    day = date.today() - timedelta(days=random.randint(331, 360))
    rnd = random.Random(day.toordinal())
    recs, hourly = [], {}
    for h in range(17, 31):  # 17:00 to 07:00 the next day
        base = 66.0 if h < 21 else (68.0 if h < 23 else 47.0)
        levels = [round(base + rnd.uniform(-4, 4), 1) for _ in range(12)]
        hourly[h] = 10 * math.log10(sum(10 ** (x / 10) for x in levels) / 12)
        for i, x in enumerate(levels):
            recs.append({"t": local(day, h) + 300 * (i + 1), "p": 300, "d": {
                "laeq": [x, "dBA", 0, 300, 0], "lamax": [x + 15, "dBA", 0, 300, 0],
                "lamin": [x - 10, "dBA", 0, 300, 0], "l10": [x + 3, "dBA", 0, 300, 0],
                "l50": [x - 2, "dBA", 0, 300, 0], "l90": [x - 8, "dBA", 0, 300, 0]}})
    boot = secrets.token_hex(4)
    msgs = [{"v": 1, "st": STATION, "fw": "0.1.0", "boot": boot, "seq": i,
             "r": recs[i * 12:(i + 1) * 12]} for i in range(len(recs) // 12)]
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-noise-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}}})
    c = Collector(settings)
    night_end = local(day, 30)
    where = f"\"station\" = '{STATION}' AND time > {local(day, 17)}s AND " \
            f"time <= {local(day, 31)}s"  # other tests store this station on other days
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, STATION, msgs)
        wait_for(lambda: stored(env, f'SELECT "laeq" FROM "derived"."noise_period" WHERE '
                                     f"{where} AND time = {night_end}s"),
                 "the night judged whole")
    finally:
        c.stop()
    got = stored(env, f'SELECT "value" FROM "derived"."mean" WHERE {where} AND "param" = '
                      f"'laeq' AND \"period\" = '1h' AND time = {local(day, 22)}s")
    assert got[0]["value"] == pytest.approx(hourly[21], abs=1e-6)
    alerts = stored(env, f'SELECT "event", "text_en" FROM "derived"."alert" WHERE {where} '
                         f"AND \"rule\" = 'qcvn26_2010.laeq.night'")
    assert [(int(a["time"]), a["event"]) for a in alerts] == [
        (local(day, 22), "open"), (local(day, 24), "close")]
    assert "night (21–6 h) limit of 55 dBA" in alerts[0]["text_en"]
    night = stored(env, f'SELECT * FROM "derived"."noise_period" WHERE {where} AND '
                        f"time = {night_end}s")[0]
    want = 10 * math.log10(sum(10 ** (hourly[h] / 10) for h in range(21, 30)) / 9)
    assert night["laeq"] == pytest.approx(want, abs=0.1) and night["exceeded"] is True


def test_a_flag_on_an_old_noise_hour_recomputes_the_energy_means_from_the_stored_readings(
        services, tmp_path):
    """An operator's flag older than the aggregate window recomputes the hours and the day
    from InfluxDB (collector/review/history.py): the sound levels combine as energy there too."""
    from collector.processors.aggregate.means import Completeness
    from collector.review import history
    from collector.review.marks import Review, append, flag
    from collector.review.marks import path as marks_path

    env = services
    day = date.today() - timedelta(days=random.randint(361, 390))
    hours = {h: [50.0, 60.0, 70.0] * 4 for h in range(24)}
    hours[9] = [90.0] * 12  # a fault: the operator flags this hour
    readings = [Reading(STATION, "air", "laeq", "dBA", local(day, h) + 300 * (i + 1), v, 0,
                        qc=QC_GOOD, n=300) for h, vs in hours.items() for i, v in enumerate(vs)]
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        assert len(sink.write(readings).accepted) == len(readings)
    finally:
        sink.close()
    file = marks_path(tmp_path)
    m = append(file, flag(STATION, "laeq", local(day, 9), local(day, 10), "a fault", "lan",
                          local(day, 30)))
    points = history.recompute(env, m, "air", Review(file), TZ, 12, Completeness())
    by = {(p.tags["period"], p.time): p.fields for p in points}
    assert by[("1h", local(day, 10))]["n"] == 0  # the flagged hour, 9–10 h
    # the 23 other hours of 50, 60, 70 dB each: 65.7 dB (the arithmetic mean would say 60)
    day_mean = by[("24h", local(day, 24))]
    assert day_mean["value"] == pytest.approx(65.68, abs=0.01) and day_mean["n"] == 23
