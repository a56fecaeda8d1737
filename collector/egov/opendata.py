"""Open data: one station's readings of one local day as CSV and JSON, with Vietnamese or
English headers, read from InfluxDB with InfluxQL (the read-only user). Used by the e-gov
module every day and by `quantrac export` for any date range.

A day holds the records stamped after its local midnight up to and including the next one
(record times mark the END of their period, as for the daily means). Files:
`<out>/<station>/<yyyy>/<station>_<yyyy-mm-dd>_<lang>.<csv|json>`, written atomically; a
station-day without readings gets no file. Every reading is included with its device status
and QC flag (1 good, 3 suspect, 4 fail, 9 missing): users filter, nothing is hidden. The JSON
file of an air station's day with a daily VN_AQI carries it under `aqi`, with the band's
colour, health message and recommended activities in the file's language.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boards
from boards.param_names import base, qualifier
from collector.domain import aqi_health
from collector.egov import noise_data
from collector.egov.datafile import Symbols
from collector.retention import shipped
from collector.review.marks import APPROVE, FLAG, Review
from quantrac_common import influxql
from quantrac_common.files import write_atomic

FORMATS = ("csv", "json")
LANGS = ("vi", "en")
KEYS = ("station", "time", "parameter", "value", "unit", "device_status", "qc_flag", "review")
HEADERS = {
    "vi": ("Trạm", "Thời gian", "Thông số", "Giá trị", "Đơn vị", "Trạng thái thiết bị",
           "Cờ chất lượng", "Kiểm duyệt"),
    "en": ("station", "time", "parameter", "value", "unit", "device_status", "qc_flag",
           "review"),
}
# the review column: flagged invalid by an operator, or the day approved, else preliminary
INVALID, APPROVED, PRELIMINARY = "invalid", "approved", "preliminary"
ABOUT = {
    "vi": "Giá trị trung bình 5 phút, thời gian là cuối mỗi kỳ (giờ địa phương). Khí (SO2, CO, "
          "NO2, O3) tính bằng ug/Nm3 ở 25 °C, 760 mmHg; bụi (PM1, PM2,5, PM10, TSP) quy về "
          "25 °C, 760 mmHg theo nhiệt độ và áp suất đo tại trạm. Trạng thái thiết bị theo Thông tư "
          "10/2021/TT-BTNMT: 00 đang đo, 01 hiệu chuẩn, 02 lỗi thiết bị. Cờ chất lượng: 1 tốt, "
          "3 nghi ngờ, 4 không đạt, 9 thiếu. Kiểm duyệt: invalid (cán bộ đánh dấu không hợp lệ, "
          "không dùng), approved (ngày đã duyệt), preliminary (chưa duyệt, số liệu sơ bộ).",
    "en": "5-minute means; time marks the end of each period (local time). Gases (SO2, CO, "
          "NO2, O3) in ug/Nm3 at 25 °C and 760 mmHg; particulates (PM1, PM2.5, PM10, TSP) "
          "referred to 25 °C and 760 mmHg with the station's measured temperature and "
          "pressure. Device status per Circular "
          "10/2021/TT-BTNMT: 00 measuring, 01 calibrating, 02 device error. Quality flag: "
          "1 good, 3 suspect, 4 fail, 9 missing. Review: invalid (flagged by an operator: do not "
          "use), approved (the day was checked), preliminary (not yet checked).",
}
Row = tuple[int, str, float | None, str, int, int]  # time, param, value, unit, status, qc


def day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """(after, up to and including): the local day's records, as epoch seconds."""
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return int(start.timestamp()), int(end.timestamp())


def fetch(env: dict[str, str], station: str, after: int, until: int,
          timeout: float = 60.0) -> list[Row]:
    """The station's readings with after < time <= until, by time then parameter."""
    q = (f'SELECT "value", "status", "qc" FROM "reading" WHERE "station" = \'{station}\' '
         f'AND time > {after}s AND time <= {until}s GROUP BY "param", "unit"')
    rows: list[Row] = []
    for r in influxql.rows(influxql.query(env, q, timeout=timeout)):
        value = r.get("value")
        rows.append((int(r["time"]), r["param"], None if value is None else float(value),
                     r.get("unit", ""), int(r.get("status") or 0), int(r.get("qc") or 2)))
    rows.sort(key=lambda x: (x[0], x[1]))
    return rows


def table(rows: list[Row], station: str, tz: ZoneInfo, symbols: Symbols,
          review: Review | None = None, day: str = "") -> list[list[Any]]:
    day_status = APPROVED if review is not None and review.approved(station, day) \
        else PRELIMINARY
    out = []
    for t, param, value, unit, status, qc in rows:
        symbol = symbol_of(param, symbols)
        flagged = review is not None and review.invalid(station, param, t) is not None
        out.append([station, datetime.fromtimestamp(t, tz).isoformat(), symbol, value, unit,
                    f"{status:02d}", qc, INVALID if flagged else day_status])
    return out


def symbol_of(param: str, symbols: Symbols) -> str:
    """The parameter column: the base's symbol, and for a second probe's channel the
    station's qualifier after it, as the station's name joins them (`temp_do` -> `Temp_do`),
    so the two probes stay two series and either reads as temperature."""
    b = base(param)
    sym = symbols.params.get(b, (b, 0))[0]
    return sym if param == b else f"{sym}_{qualifier(param)}"


def review_doc(review: Review | None, station: str, day: date, tz: ZoneInfo,
               after: int, until: int) -> dict[str, Any]:
    """The day's review in the JSON file: its status and the flags that cover part of it."""
    if review is None:
        return {"status": PRELIMINARY, "invalid": []}
    approvals = [m for m in review.marks if m.type == APPROVE and m.station == station
                 and m.day == day.isoformat()]
    doc: dict[str, Any] = {"status": APPROVED if approvals else PRELIMINARY}
    if approvals:
        doc.update(approved_by=approvals[-1].by,
                   approved_at=datetime.fromtimestamp(approvals[-1].at, tz).isoformat())
    doc["invalid"] = [{"parameter": m.param,
                       "from": datetime.fromtimestamp(m.start, tz).isoformat(),
                       "to": datetime.fromtimestamp(m.end, tz).isoformat(),
                       "reason": m.reason, "by": m.by}
                      for m in review.marks if m.type == FLAG and m.station == station
                      and m.start < until and m.end > after]
    return doc


def render_csv(cells: list[list[Any]], lang: str) -> str:
    """UTF-8 with a BOM, so spreadsheet programs show the Vietnamese headers right."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADERS[lang])
    for c in cells:
        w.writerow(["" if v is None else v for v in c])
    return "\ufeff" + buf.getvalue()


def fetch_day_aqi(env: dict[str, str], station: str, until: int,
                  timeout: float = 60.0) -> dict[str, Any] | None:
    """The station's daily VN_AQI for the local day ending at `until`, if one was computed."""
    q = (f'SELECT "aqi", "dominant" FROM {shipped().qualified("aqi")} WHERE '
         f'"station" = \'{station}\' AND "period" = \'day\' AND time = {until}s')
    for r in influxql.rows(influxql.query(env, q, timeout=timeout)):
        if r.get("aqi") is not None:
            return {"aqi": int(r["aqi"]), "dominant": r.get("dominant")}
    return None


def day_aqi(found: dict[str, Any], lang: str) -> dict[str, Any]:
    """The day's AQI as published: the number, the band's colour, its health message and
    the recommended activities (Decision 1459, Bảng 3 to 5) in the file's language."""
    advice = aqi_health.of_aqi(found["aqi"])
    return {**found, "band": advice["band"], "label": advice["label"][lang],
            "colour": advice["colour"],
            **{part: advice[part][lang] for part in aqi_health.PARTS},
            "missing": [m for m in advice["missing"] if m.endswith("." + lang)]}


def render_json(cells: list[list[Any]], station: boards.Station, day: date, lang: str,
                tz: ZoneInfo, aqi: dict[str, Any] | None = None,
                review: dict[str, Any] | None = None,
                noise: list[dict[str, Any]] | None = None) -> str:
    doc = {"station": {"id": station.id, "name": station.name, "kind": station.kind,
                       "lat": station.lat, "lon": station.lon},
           "date": day.isoformat(), "timezone": str(tz), "lang": lang, "about": ABOUT[lang],
           "keys": list(KEYS), "columns": list(HEADERS[lang]), "rows": cells}
    doc["review"] = review or {"status": PRELIMINARY, "invalid": []}
    if aqi is not None:
        doc["aqi"] = {**day_aqi(aqi, lang), "preliminary": doc["review"]["status"] != APPROVED}
    if noise:  # the regulation periods of noise that ended this day (docs/noise.md)
        doc["noise"] = noise_data.day_noise(noise, lang)
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def file_path(out: Path, station: str, day: date, lang: str, fmt: str) -> Path:
    return out / station / f"{day:%Y}" / f"{station}_{day.isoformat()}_{lang}.{fmt}"


def write_day(env: dict[str, str], station: boards.Station, day: date, out: Path, tz: ZoneInfo,
              symbols: Symbols, formats: tuple[str, ...] = FORMATS,
              langs: tuple[str, ...] = LANGS, review: Review | None = None) -> list[Path]:
    """Write the station's files for `day`; the paths written (none without readings).
    `review`: the operator's marks (each reading's review column); None: all preliminary."""
    for f in formats:
        if f not in FORMATS:
            raise ValueError(f"format {f!r}: must be one of {', '.join(FORMATS)}")
    for lang in langs:
        if lang not in LANGS:
            raise ValueError(f"language {lang!r}: must be one of {', '.join(LANGS)}")
    after, until = day_bounds(day, tz)
    rows = fetch(env, station.id, after, until)
    if not rows:
        return []
    aqi = fetch_day_aqi(env, station.id, until) if "json" in formats else None
    noise = noise_data.fetch_day_noise(env, station.id, after, until) \
        if "json" in formats else []
    cells = table(rows, station.id, tz, symbols, review, day.isoformat())
    reviewed = review_doc(review, station.id, day, tz, after, until)
    written = []
    for lang in langs:
        for fmt in formats:
            text = (render_csv(cells, lang) if fmt == "csv"
                    else render_json(cells, station, day, lang, tz, aqi, reviewed, noise))
            path = file_path(out, station.id, day, lang, fmt)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, text.encode("utf-8"))
            written.append(path)
    return written
