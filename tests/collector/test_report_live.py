"""`quantrac report daily` and `report monthly` on a day injected through the real pipeline
(broker → collector → InfluxDB): both write Markdown and PDF in vi and en, and the numbers the
test works out from the readings it sent (hourly and daily means, the exceeded hours and day,
the hourly and daily VN_AQI with its health message, the calibration hour, the completeness)
are in every file. The PDFs are read back with pypdf's text extraction.

The day: SO2 at 200 ppb (524 µg/Nm³, above QCVN 05's 1-hour 350) from 10:00 to 13:00; PM10
climbing through the day to a daily mean of 103 µg/m³ (above the 24-hour 100); CO calibrating
(device status 01) from 15:00 to 16:00. At a tap-water plant on the same day, free chlorine
at 0.1 mg/L from 03:00 to 05:00, below the 0.2 to 1 mg/L range (a minimum, and a limit carried
over from the superseded QCVN 01-1:2018 while the 2024 text is missing: the bulletin says so).
"""

from __future__ import annotations

import random
import re
import secrets
import uuid
from datetime import date, datetime, time, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from collector_live import WAIT_S, publish, wait_for
from pypdf import PdfReader

from collector.config import Settings
from collector.domain import aqi, aqi_health
from collector.pipeline import Collector
from quantrac.cli import main
from quantrac_common import influxql

pytestmark = pytest.mark.services
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STATION = "pq-air-05"  # no other test publishes for it
TAP = "pq-tap-03"
LOW_CHLORINE = (3, 4)
FALLBACK = {"en": "limit from QCVN 01-1:2018/BYT, pending QCVN 01-1:2024/BYT text",
            "vi": "giới hạn theo QCVN 01-1:2018/BYT, chờ văn bản QCVN 01-1:2024/BYT"}
STEP = 300
SO2_UG = 64.07 / 24.45  # µg/Nm³ per ppb (QCVN 05's reference conditions: M / 24.45)
CO_UG = 28.01 / 24.45 * 1000  # µg/Nm³ per ppm
EPISODE = (10, 11, 12)  # local hours (start) of the SO2 episode
CALIBRATING = 15


def midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), TZ).timestamp())


def offset(i: int) -> float:
    # twelve different values a hour whose mean is exactly 0: never a flat line
    return (i % 12 - 5.5) / 10


def record(day0: int, k: int) -> dict:
    """The k-th 5-minute record after local midnight (k = 1 ends at 00:05)."""
    t = day0 + k * STEP
    hour = (k - 1) // 12  # local hour of the period's start (24 is the next day's first)
    so2 = (200.0 if hour in EPISODE else 10.0) + offset(k)
    pm10 = 80.0 + 2 * (hour % 24) + offset(k)
    co = 0.8 + offset(k) / 100
    d = {"so2": [round(so2, 3), "ppb", 0, 30, 0], "pm10": [round(pm10, 3), "ug/m3", 0, 28, 0],
         "co": [round(co, 4), "ppm", 1 if hour == CALIBRATING else 0, 30, 0]}
    return {"t": t, "p": STEP, "d": d}


def tap_record(day0: int, k: int) -> dict:
    t = day0 + k * STEP
    hour = (k - 1) // 12
    chlorine = (0.1 if hour in LOW_CHLORINE else 0.5) + offset(k) / 100
    return {"t": t, "p": STEP, "d": {"ph": [round(7.2 + offset(k) / 10, 4), "pH", 0, 30, 0],
                                     "chlorine": [round(chlorine, 4), "mg/L", 0, 30, 0]}}


def number(x: float) -> str:
    """As people read it in the bulletin (one decimal from 100 up, else two, no trailing 0)."""
    text = f"{x:.1f}" if abs(x) >= 100 else f"{x:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def expected(day: date) -> dict:
    """From the records sent: hourly means (µg/Nm³ for gases), the exceeded hours, the daily
    PM10 mean, the hourly and daily VN_AQI (the decision's maths on those means)."""
    day0 = midnight(day)
    hours: dict[str, list[float | None]] = {"so2": [], "pm10": [], "co": []}
    for h in range(24):
        recs = [record(day0, h * 12 + j + 1)["d"] for j in range(12)]
        hours["so2"].append(fmean(r["so2"][0] for r in recs) * SO2_UG)
        hours["pm10"].append(fmean(r["pm10"][0] for r in recs))
        hours["co"].append(None if h == CALIBRATING else fmean(r["co"][0] for r in recs) * CO_UG)
    before = {p: [None] * 11 for p in hours}  # nothing before the day
    hourly = [aqi.hourly_aqi({p: (before[p] + v)[h:h + 12] for p, v in hours.items()}).aqi
              for h in range(24)]
    day_res = aqi.daily_aqi({p: [None] * 7 + v for p, v in hours.items()})
    return {"so2": hours["so2"], "pm10_day": fmean(hours["pm10"]),  # type: ignore[arg-type]
            "hourly": hourly, "day_aqi": day_res.aqi, "day_dominant": day_res.dominant}


def stored(env: dict, q: str) -> list[dict]:
    return influxql.rows(influxql.query(env, q))


def pdf_text(path) -> str:
    return " ".join(" ".join(page.extract_text() or "" for page in PdfReader(path).pages)
                    .split())


def flat(text: str) -> str:
    return " ".join(text.replace("|", " ").split())


def test_daily_and_monthly_bulletins_show_what_the_readings_make(services, session_run_dir,
                                                                    tmp_path):
    env = services
    # a 10th of a past month: its next day is in the same month, no other test writes there
    back = date.today() - timedelta(days=random.randint(45, 330))
    day = back.replace(day=10)
    day0 = midnight(day)
    boot = secrets.token_hex(4)
    # the day and the first hour of the next (the station's records pass midnight: the day
    # is over), an hour a message as a station sends its backlog
    recs = [record(day0, k) for k in range(1, 25 * 12 + 1)]
    msgs = [{"v": 1, "st": STATION, "fw": "0.1.0", "boot": boot, "seq": i,
             "r": recs[i * 12:(i + 1) * 12]} for i in range(25)]
    taps = [tap_record(day0, k) for k in range(1, 25 * 12 + 1)]
    tap_msgs = [{"v": 1, "st": TAP, "fw": "0.1.0", "boot": boot, "seq": i,
                 "r": taps[i * 12:(i + 1) * 12]} for i in range(25)]
    until = midnight(day + timedelta(days=1))
    settings = Settings.from_env(env, tmp_path, {
        "sources": {"mqtt": {"client_id": f"test-report-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}}})
    c = Collector(settings)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        publish(env, STATION, msgs)
        publish(env, TAP, tap_msgs)
        where = f"\"station\" = '{STATION}' AND time = {until}s"
        wait_for(lambda: stored(env, f'SELECT "aqi" FROM "derived"."aqi" WHERE {where} '
                                     "AND \"period\" = 'day'") and
                 stored(env, f'SELECT "value" FROM "derived"."mean" WHERE {where} AND '
                             "\"period\" = '24h' AND \"param\" = 'pm10' AND "
                             '"provisional" = false') and
                 all(stored(env, f'SELECT count("value") FROM "reading" WHERE "station" = '
                                 f"'{st}' AND time > {day0}s AND time <= {until + 3600}s")
                     [0]["count"] == n * 300 for st, n in ((STATION, 3), (TAP, 2))) and
                 stored(env, f'SELECT "value" FROM "derived"."mean" WHERE "station" = '
                             f"'{TAP}' AND time = {until + 3600}s AND \"period\" = '1h'"),
                 "the day's readings, means and AQI in InfluxDB", timeout=WAIT_S * 3)
    finally:
        c.stop()

    want = expected(day)
    assert want["day_aqi"] is not None and max(a for a in want["hourly"] if a) > 0
    advice = aqi_health.of_aqi(want["day_aqi"])
    peak = max(range(24), key=lambda h: want["hourly"][h] or -1)
    ran = {}
    for kind, arg in (("daily", ["--date", day.isoformat()]),
                      ("monthly", ["--month", f"{day:%Y-%m}"])):
        out = tmp_path / kind
        got = CliRunner().invoke(main, ["report", kind, *arg, "--station", STATION,
                                        "--station", TAP,
                                        "--run-dir", str(session_run_dir), "--out", str(out)])
        assert got.exit_code == 0, got.output
        label = day.isoformat() if kind == "daily" else f"{day:%Y-%m}"
        names = {f"bulletin_{kind}_{label}_{lang}.{ext}" for lang in ("vi", "en")
                 for ext in ("md", "pdf")}
        assert names <= {p.name for p in out.iterdir()}, got.output
        ran[kind] = out, label
    for kind, (out, label) in ran.items():
        prefix = "" if kind == "daily" else f"{day.isoformat()} "
        for lang in ("vi", "en"):
            md = flat((out / f"bulletin_{kind}_{label}_{lang}.md").read_text(encoding="utf-8"))
            pdf = pdf_text(out / f"bulletin_{kind}_{label}_{lang}.pdf")
            for name, text in (("md", md), ("pdf", pdf)):
                where = f"{kind} {lang} {name}"
                # each SO2 hour above 350 µg/Nm³, with its mean, and no other hour
                for h in EPISODE:
                    row = (f"so2 {'1 giờ' if lang == 'vi' else '1 hour'} "
                           f"{prefix}{h:02d}:00-{h + 1:02d}:00 {number(want['so2'][h])} <= 350")
                    assert row in text, f"{where}: {row!r} not in {text[:3000]}"
                assert len(re.findall(r"so2 1 (?:giờ|hour) (?:\S+ )?\d\d:00-\d\d:00", text)) \
                    == len(EPISODE), where
                # the day's PM10 mean against the 24-hour limit, and the day exceeded
                assert f"{day.isoformat()} {number(want['pm10_day'])} <= 100 qcvn05.pm10.24h" \
                    in text, f"{where}: the PM10 day exceedance"
                # the day's VN_AQI with its band and health message
                sentence = " ".join(aqi_health.sentence(advice, lang).split())
                assert f"{day.isoformat()} {want['day_aqi']} {advice['label'][lang]} " \
                       f"{want['day_dominant']} {sentence}" in text, f"{where}: daily AQI"
                # the hourly VN_AQI: its highest hour
                hi = f"{prefix}{peak:02d}:00-{(peak + 1) % 24:02d}:00"
                assert f"{want['hourly'][peak]} ({hi})" in text, f"{where}: hourly AQI peak"
                # CO calibrating for an hour: a fault, and 276 of 288 records valid
                assert f"{CALIBRATING:02d}:00-{CALIBRATING + 1:02d}:00" in text, where
                if kind == "daily":
                    assert "co 276 288 288 95.8" in text, f"{where}: CO completeness"
                    for h in range(24):  # every hour's AQI in the daily table
                        if want["hourly"][h] is not None:
                            assert f"{h:02d}:00-{(h + 1) % 24:02d}:00 {want['hourly'][h]} " \
                                in text, f"{where}: hour {h}"
                assert ("chưa thẩm định" if lang == "vi" else "not reviewed") in text, where
                # the tap-water plant: chlorine below its minimum, and where the limit is from
                hour = "1 giờ" if lang == "vi" else "1 hour"
                for h in LOW_CHLORINE:
                    row = (f"chlorine {hour} {prefix}{h:02d}:00-{h + 1:02d}:00 0.1 >= 0.2 "
                           "qcvn01-1_2024.chlorine.1h")
                    assert row in text, f"{where}: {row!r}"
                judged = 24 if kind == "daily" else 25  # a month has the next day's hour too
                mean = fmean([0.1] * 2 + [0.5] * (judged - 2))
                row = (f"chlorine {hour} 0.2 – 1 mg/L {number(mean)} 0.5 2/{judged} "
                       f"qcvn01-1_2024.chlorine.1h B {FALLBACK[lang]}")
                assert row in text, f"{where}: {row!r}"


def test_only_complete_finished_means_are_judged_and_a_missing_limit_is_named(
        services, session_run_dir, tmp_path):
    # Stored directly (the pipeline's own points, as the aggregate stage writes them): at a
    # wastewater outfall an incomplete hour far above the NH4 limit is not an exceedance, a
    # complete one is; COD has no number in QCVN 14:2025 and no fallback, which the bulletin
    # says rather than judging it. At an air station a day still in progress (provisional)
    # above the PM10 24-hour limit is not judged either.
    from collector.contracts import Point, Reading
    from collector.sinks.influxdb.plugin import InfluxSink

    env = services
    day = date.today() - timedelta(days=random.randint(400, 700))
    day0, end = midnight(day), midnight(day + timedelta(days=1))
    ww, air = "pq-ww-01", STATION

    def mean(st, kind, param, unit, period, t, value, complete, **extra):
        return Point("mean", {"station": st, "kind": kind, "param": param, "unit": unit,
                              "period": period}, {"value": value, "complete": complete,
                                                  **extra}, t)

    items = [Reading(ww, "wastewater", "nh4", "mg/L", day0 + 300, 4.0, 0, qc=1),
             mean(ww, "wastewater", "nh4", "mg/L", "1h", day0 + 3 * 3600, 55.0, False),
             mean(ww, "wastewater", "nh4", "mg/L", "1h", day0 + 5 * 3600, 12.5, True),
             mean(ww, "wastewater", "nh4", "mg/L", "1h", day0 + 6 * 3600, 4.0, True),
             mean(ww, "wastewater", "cod", "mg/L", "1h", day0 + 5 * 3600, 900.0, True),
             Reading(air, "air", "pm10", "ug/m3", day0 + 300, 150.0, 0, qc=1),
             mean(air, "air", "pm10", "ug/m3", "24h", end, 150.0, True, provisional=True)]
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        result = sink.write(items)  # type: ignore[arg-type]
    finally:
        sink.close()
    assert len(result.accepted) == len(items), result.error

    got = CliRunner().invoke(main, ["report", "daily", "--date", day.isoformat(),
                                    "--station", ww, "--station", air, "--lang", "en",
                                    "--run-dir", str(session_run_dir), "--out", str(tmp_path)])
    assert got.exit_code == 0, got.output
    assert {p.name for p in tmp_path.glob("bulletin_*")} == \
        {f"bulletin_daily_{day}_en.md", f"bulletin_daily_{day}_en.pdf"}
    for text in (flat((tmp_path / f"bulletin_daily_{day}_en.md").read_text(encoding="utf-8")),
                 pdf_text(tmp_path / f"bulletin_daily_{day}_en.pdf")):
        # NH4: two complete hours judged, one above 10 mg/L; the incomplete 55 is not there
        assert "nh4 1 hour <= 10 mg/L 8.25 12.5 1/2 qcvn14_2025.nh4.1h" in text
        assert "nh4 1 hour 04:00-05:00 12.5 <= 10 qcvn14_2025.nh4.1h" in text
        assert "02:00-03:00" not in text  # the incomplete hour
        # COD: no limit to judge against, named as such
        assert "cod 1 hour not found mg/L 900 900 0/1 qcvn14_2025.cod.1h not found " \
               "QCVN 14:2025/BTNMT: not found" in text
        # PM10's day in progress: no mean judged, no exceedance
        assert "pm10 24 hours <= 100 ug/m3 - - 0/0 qcvn05.pm10.24h" in text
        assert "pm10 24 hours 20" not in text


def test_the_bulletin_shows_the_operator_s_review_and_counts_flagged_records_invalid(
        services, session_run_dir, tmp_path):
    """An approved day is "approved by …", not "not reviewed"; a range an operator flagged
    is listed with its reason, and its records are not valid in the completeness (as the
    aggregate stage does not count them)."""
    import shutil

    from collector.contracts import Reading
    from collector.review import marks
    from collector.sinks.influxdb.plugin import InfluxSink

    env = services
    day = date.today() - timedelta(days=random.randint(720, 1000))
    day0 = midnight(day)
    st = "pq-air-04"
    items = [Reading(st, "air", "so2", "ppb", day0 + k * STEP, 10.0, 0, qc=1)
             for k in range(1, 25)]  # 00:05 … 02:00
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        result = sink.write(items)  # type: ignore[arg-type]
    finally:
        sink.close()
    assert len(result.accepted) == len(items), result.error
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(session_run_dir / "services.env", run_dir)
    now = midnight(day + timedelta(days=3))
    path = marks.path(run_dir)
    # 00:30-01:00 (records 00:35 … 01:00) flagged twice, overlapping: 6 records, counted once
    for start, end in (("00:30", "01:00"), ("00:45", "01:00")):
        marks.append(path, marks.flag(st, "so2", day0 + int(start[:2]) * 3600
                                      + int(start[3:]) * 60, day0 + int(end[:2]) * 3600
                                      + int(end[3:]) * 60, "analyser fault", "lan", now))
    marks.append(path, marks.approve(st, day, "an.tran", now, TZ))
    for lang, approved, flagged in (("en", "Review status: approved by an.tran",
                                     "Data flagged invalid"),
                                    ("vi", "đã thẩm định (approved) bởi an.tran",
                                     "Số liệu bị đánh dấu không hợp lệ")):
        got = CliRunner().invoke(main, ["report", "daily", "--date", day.isoformat(),
                                        "--station", st, "--lang", lang,
                                        "--run-dir", str(run_dir), "--out", str(tmp_path)])
        assert got.exit_code == 0, got.output
        for text in (flat((tmp_path / f"bulletin_daily_{day}_{lang}.md").read_text(
                         encoding="utf-8")),
                     pdf_text(tmp_path / f"bulletin_daily_{day}_{lang}.pdf")):
            assert approved in text and "not reviewed" not in text
            assert flagged in text
            assert f"so2 {day} 00:30 {day} 01:00 analyser fault lan" in text
            assert "so2 18 24 288 6.2" in text  # 24 records, 6 of them flagged
