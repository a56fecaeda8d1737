"""A bulletin's content (build.py) in one language, as blocks both the Markdown and the PDF
writer render: headings, paragraphs, tables and charts. Numbers are written as alert texts
write them (collector/alerting/messages.number); times in the registry's local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.alerting import messages
from collector.alerting.messages import number
from collector.alerting.regulations import NOT_FOUND, fallback_label
from collector.domain import aqi_health
from collector.report import noise

LANGS = ("vi", "en")

T = {
    "title": {"daily": {"vi": "Bản tin quan trắc môi trường ngày {label}",
                        "en": "Environmental monitoring bulletin, {label}"},
              "monthly": {"vi": "Bản tin quan trắc môi trường tháng {label}",
                          "en": "Environmental monitoring bulletin, month {label}"}},
    "intro": {"vi": "Mạng lưới {network}, {province}. Giờ địa phương ({tz}). Số liệu từ hệ "
                    "thống quan trắc tự động; trung bình chỉ tính khi đủ số liệu (75 %).",
              "en": "Network {network}, {province}. Local time ({tz}). Data from the automatic "
                    "monitoring system; a mean counts only when complete (75 %)."},
    "silent": {"vi": "Trạm không có số liệu: {ids}", "en": "Stations without data: {ids}"},
    "station": {"vi": "Trạm {id}: {name}", "en": "Station {id}: {name}"},
    "about": {"vi": "Loại: {kind}; quy chuẩn: {regulation}{column}. Trạng thái thẩm định "
                    "(review): {review}.",
              "en": "Kind: {kind}; regulation: {regulation}{column}. Review status: {review}."},
    "column": {"vi": ", cột {c}", "en": ", column {c}"},
    "kinds": {"air": {"vi": "không khí", "en": "air"},
              "tap_water": {"vi": "nước cấp", "en": "tap water"},
              "surface_water": {"vi": "nước mặt", "en": "surface water"},
              "wastewater": {"vi": "nước thải", "en": "wastewater"},
              "sea_water": {"vi": "nước biển", "en": "sea water"}},
    "review": {"none": {"vi": "chưa thẩm định (not reviewed)", "en": "not reviewed"},
               "all": {"vi": "đã thẩm định (approved) bởi {by}", "en": "approved by {by}"},
               "some": {"vi": "đã thẩm định {k}/{n} ngày (bởi {by}), các ngày khác chưa thẩm "
                              "định", "en": "approved {k} of {n} days (by {by}), the other "
                                            "days not reviewed"}},
    "flags": {"vi": "Số liệu bị đánh dấu không hợp lệ", "en": "Data flagged invalid"},
    "flag_head": {"vi": ["Thông số", "Từ", "Đến", "Lý do", "Người đánh dấu"],
                  "en": ["Parameter", "From", "To", "Reason", "Flagged by"]},
    "completeness": {"vi": "Độ đầy đủ số liệu", "en": "Data completeness"},
    "comp_head": {"vi": ["Thông số", "Hợp lệ", "Bản ghi", "Dự kiến", "%"],
                  "en": ["Parameter", "Valid", "Records", "Expected", "%"]},
    "limits": {"vi": "Giá trị trung bình so với giới hạn", "en": "Means against the limits"},
    "lim_head": {"vi": ["Thông số", "Kỳ", "Giới hạn", "Đơn vị", "TB", "Cao nhất", "Vượt/Số kỳ",
                        "Quy tắc", "Độ tin cậy", "Nguồn"],
                 "en": ["Parameter", "Period", "Limit", "Unit", "Mean", "Highest",
                        "Exceeded/periods", "Rule", "Confidence", "Source"]},
    "exceed": {"vi": "Vượt giới hạn", "en": "Exceedances"},
    "no_exceed": {"vi": "Không có giá trị trung bình nào vượt giới hạn.",
                  "en": "No mean exceeded a limit."},
    "exc_head": {"vi": ["Thông số", "Kỳ", "Thời gian", "Giá trị", "Giới hạn", "Quy tắc"],
                 "en": ["Parameter", "Period", "Time", "Value", "Limit", "Rule"]},
    "aqi": {"vi": "Chỉ số chất lượng không khí (VN_AQI)", "en": "Air quality index (VN_AQI)"},
    "aqi_day_head": {"vi": ["Ngày", "VN_AQI", "Mức", "Chất chính", "Ảnh hưởng sức khỏe"],
                     "en": ["Day", "VN_AQI", "Band", "Dominant", "Health message"]},
    "aqi_hour_head": {"vi": ["Giờ", "VN_AQI", "Mức", "Chất chính"],
                      "en": ["Hour", "VN_AQI", "Band", "Dominant"]},
    "aqi_hour_summary": {"vi": "VN_AQI giờ: {n} giờ, thấp nhất {lo}, cao nhất {hi} ({when}).",
                         "en": "Hourly VN_AQI: {n} hours, lowest {lo}, highest {hi} ({when})."},
    "no_aqi": {"vi": "Không tính được VN_AQI.", "en": "No VN_AQI could be computed."},
    "faults": {"vi": "Sự cố và bảo trì thiết bị", "en": "Station faults and maintenance"},
    "fault_head": {"vi": ["Thông số", "Trạng thái", "Số bản ghi", "Giờ"],
                   "en": ["Parameter", "Status", "Records", "Hours"]},
    "status": {1: {"vi": "01 hiệu chuẩn/bảo trì", "en": "01 calibrating/maintenance"},
               2: {"vi": "02 lỗi thiết bị", "en": "02 device error"}},
    "no_faults": {"vi": "Không có sự cố.", "en": "No faults."},
    "alerts": {"vi": "Cảnh báo", "en": "Alerts"},
    "alert_head": {"vi": ["Thời gian", "Quy tắc", "Sự kiện", "Nội dung"],
                   "en": ["Time", "Rule", "Event", "Text"]},
    "no_alerts": {"vi": "Không có cảnh báo.", "en": "No alerts."},
    "chart_aqi": {"vi": "VN_AQI", "en": "VN_AQI"},
    "period": {"1h": {"vi": "1 giờ", "en": "1 hour"}, "8h": {"vi": "8 giờ", "en": "8 hours"},
               "24h": {"vi": "24 giờ", "en": "24 hours"}},
    "not_found": {"vi": "chưa có", "en": "not found"},
}


def t(key: str, lang: str, **kw: Any) -> str:
    return T[key][lang].format(**kw)


@dataclass
class Block:
    kind: str  # "h1", "h2", "h3", "p", "table", "chart"
    text: str = ""
    head: list[str] | None = None
    rows: list[list[str]] | None = None
    chart: str = ""  # chart key (charts.py draws it)


def when(ts: int, tz: ZoneInfo, kind: str, period: str) -> str:
    """A period as people name it: an hour "10:00-11:00" (a month's with its day), a day
    "2026-11-10", an 8-hour mean by its end."""
    end = datetime.fromtimestamp(ts, tz)
    if period == "24h":
        return datetime.fromtimestamp(ts - 1, tz).date().isoformat()
    start = datetime.fromtimestamp(ts - {"1h": 3600, "8h": 8 * 3600}.get(period, 3600), tz)
    day = "" if kind == "daily" else f"{start:%Y-%m-%d} "
    return f"{day}{start:%H:%M}-{end:%H:%M}"


def bound(lim: dict[str, Any], lang: str) -> str:
    return messages.bound(lim["min"], lim["max"], T["not_found"][lang])


def basis(lim: dict[str, Any], regulation: str, lang: str) -> str:
    """Where the number comes from, in the bulletin's language: the rule set or the
    department's file, a superseded regulation's value standing in, or nothing found."""
    if lim["status"] == "fallback":
        return fallback_label(lim["source"], regulation)[lang]
    if lim["status"] == NOT_FOUND:
        return f"{regulation}: {T['not_found'][lang]}"
    return lim["source"]


def blocks(doc: dict[str, Any], lang: str) -> list[Block]:
    tz = ZoneInfo(doc["timezone"])
    kind = doc["kind"]
    out = [Block("h1", T["title"][kind][lang].format(label=doc["label"])),
           Block("p", t("intro", lang, network=doc["network"], province=doc["province"],
                        tz=doc["timezone"]))]
    if doc["silent"]:
        out.append(Block("p", t("silent", lang, ids=", ".join(doc["silent"]))))
    for st in doc["stations"]:
        out += _station(st, lang, tz, kind)
    return out


def review_text(r: dict[str, Any], lang: str) -> str:
    k, n, by = r["approved"], r["days"], ", ".join(r["by"])
    which = "none" if k == 0 else "all" if k == n else "some"
    return T["review"][which][lang].format(k=k, n=n, by=by)


def _flags(flags: list[dict[str, Any]], lang: str, tz: ZoneInfo) -> list[Block]:
    if not flags:
        return []
    def at(x: int) -> str:
        return datetime.fromtimestamp(x, tz).strftime("%Y-%m-%d %H:%M")

    return [Block("h3", t("flags", lang)), Block("table", head=T["flag_head"][lang], rows=[
        [f["param"], at(f["start"]), at(f["end"]), f["reason"], f["by"]] for f in flags])]


def _station(st: dict[str, Any], lang: str, tz: ZoneInfo, kind: str) -> list[Block]:
    review = review_text(st["review"], lang)
    col = t("column", lang, c=st["column"]) if st["column"] else ""
    out = [Block("h2", t("station", lang, id=st["id"], name=st["name"])),
           Block("p", t("about", lang, kind=T["kinds"].get(st["kind"], {}).get(lang, st["kind"]),
                        regulation=st["regulation"],
                        column=col, review=review)),
           *_flags(st["review"]["flags"], lang, tz),
           Block("h3", t("completeness", lang)),
           Block("table", head=T["comp_head"][lang], rows=[
               [c["param"], str(c["valid"]), str(c["records"]), str(c["expected"]),
                f"{c['pct']:.1f}"] for c in st["completeness"]])]
    if st["limits"]:
        out += [Block("h3", t("limits", lang)), Block("table", head=T["lim_head"][lang], rows=[
            [x["param"], T["period"].get(x["period"], {}).get(lang, x["period"]),
             bound(x, lang), x["unit"], number(x["mean"]) if x["mean"] is not None else "-",
             number(x["highest"]) if x["highest"] is not None else "-",
             f"{len(x['exceed'])}/{x['n']}", x["rule"], x["confidence"],
             basis(x, st["regulation"], lang)] for x in st["limits"]])]
        charted = [x for x in st["limits"] if f"{x['param']}/{x['period']}" in st["series"]]
        out += [Block("chart", chart=f"{st['id']}/{x['param']}/{x['period']}")
                for x in charted if x["period"] == ("1h" if kind == "daily" else "24h")]
        exc = [[x["param"], T["period"].get(x["period"], {}).get(lang, x["period"]),
                when(e["time"], tz, kind, x["period"]), number(e["value"]),
                ("<= " if e["side"] == "above" else ">= ") + number(e["limit"]), x["rule"]]
               for x in st["limits"] for e in x["exceed"]]
        out.append(Block("h3", t("exceed", lang)))
        out.append(Block("table", head=T["exc_head"][lang], rows=exc) if exc
                   else Block("p", t("no_exceed", lang)))
    if st["kind"] == "air":
        out += _aqi(st, lang, tz, kind)
    if st.get("noise"):  # a station with a sound-level meter: its periods judged whole
        out += [Block("h3", noise.T["noise"][lang]),
                Block("table", head=noise.T["head"][lang], rows=noise.rows(st["noise"], lang,
                                                                          tz))]
    out.append(Block("h3", t("faults", lang)))
    if st["faults"]:
        out.append(Block("table", head=T["fault_head"][lang], rows=[
            [f["param"], T["status"].get(f["status"], {}).get(lang, f"{f['status']:02d}"),
             str(len(f["times"])), ", ".join(_hours(f["times"], tz, kind))]
            for f in st["faults"]]))
    else:
        out.append(Block("p", t("no_faults", lang)))
    out.append(Block("h3", t("alerts", lang)))
    opened = [a for a in st["alerts"] if a["event"] in ("open", "close", "update")]
    if opened:
        text = "text" if lang == "vi" else "text_en"
        out.append(Block("table", head=T["alert_head"][lang], rows=[
            [datetime.fromtimestamp(a["time"], tz).strftime("%Y-%m-%d %H:%M"), a["rule"] or "",
             a["event"] or "", a.get(text) or ""] for a in opened]))
    else:
        out.append(Block("p", t("no_alerts", lang)))
    return out


def _hours(times: list[int], tz: ZoneInfo, kind: str) -> list[str]:
    """The hours the records fall in (a record stamped 10:05 belongs to 10:00-11:00)."""
    seen: list[str] = []
    for ts in times:
        label = when((ts - 1) // 3600 * 3600 + 3600, tz, kind, "1h")
        if label not in seen:
            seen.append(label)
    return seen


def _aqi(st: dict[str, Any], lang: str, tz: ZoneInfo, kind: str) -> list[Block]:
    out = [Block("h3", t("aqi", lang))]
    days, hours = st["aqi_day"], st["aqi_hour"]
    if not days and not hours:
        return out + [Block("p", t("no_aqi", lang))]
    if days:
        out.append(Block("table", head=T["aqi_day_head"][lang], rows=[
            [when(a["time"], tz, kind, "24h"), str(a["aqi"]), a["advice"]["label"][lang],
             a["dominant"], aqi_health.sentence(a["advice"], lang)] for a in days]))
    if hours:
        hi = max(hours, key=lambda a: a["aqi"])
        lo = min(a["aqi"] for a in hours)
        out.append(Block("p", t("aqi_hour_summary", lang, n=len(hours), lo=lo, hi=hi["aqi"],
                                when=when(hi["time"], tz, kind, "1h"))))
        out.append(Block("chart", chart=f"{st['id']}/aqi"))
        if kind == "daily":
            out.append(Block("table", head=T["aqi_hour_head"][lang], rows=[
                [when(a["time"], tz, kind, "1h"), str(a["aqi"]),
                 aqi_health.of_band(a["band"])["label"][lang] if a["band"] else "",
                 a["dominant"]] for a in hours]))
    return out
