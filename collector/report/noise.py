"""The bulletin's noise section: every regulation period of the day that ended in the span
(`noise_period`, judged by the alerts stage when the period ended: docs/noise.md), with its
LAeq (the energy mean of its hours), its limit and the verdict, in the bulletin's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.alerting.messages import number
from collector.retention import shipped
from quantrac_common import influxql

T = {
    "noise": {"vi": "Tiếng ồn (LAeq theo khoảng thời gian trong ngày)",
              "en": "Noise (LAeq by period of the day)"},
    "head": {"vi": ["Kết thúc", "Khoảng", "Quy chuẩn", "Khu vực", "LAeq (dBA)",
                    "Giới hạn (dBA)", "Đánh giá", "Số giờ đủ"],
             "en": ["Ended", "Period", "Regulation", "Area", "LAeq (dBA)", "Limit (dBA)",
                    "Verdict", "Complete hours"]},
    "above": {"vi": "vượt", "en": "above"},
    "within": {"vi": "đạt", "en": "within"},
    "incomplete": {"vi": "thiếu số liệu", "en": "incomplete"},
    "none": {"vi": "Không có khoảng thời gian nào kết thúc trong kỳ.",
             "en": "No period ended in the span."},
}
FIELDS = ("laeq", "limit", "exceeded", "complete", "n", "expected", "regulation",
          "label_vi", "label_en")


def fetch(env: dict[str, str], station: str, after: int, until: int, timeout: float = 60.0,
          fields: tuple[str, ...] = FIELDS) -> list[dict[str, Any]]:
    """The station's judged noise periods ending in (after, until], oldest first: `fields`
    of each, with its rule set, period and area, its time in epoch seconds (the e-government
    open data reads them here too, with fields of its own)."""
    names = ", ".join(f'"{f}"' for f in fields)
    q = (f'SELECT {names} FROM {shipped().qualified("noise_period")} WHERE "station" = '
         f'{influxql.quote_string(station)} AND time > {after}s AND time <= {until}s '
         f'GROUP BY "rule_set", "period", "area"')
    rows = influxql.rows(influxql.query(env, q, timeout=timeout))
    return sorted(({**r, "time": int(r["time"])} for r in rows), key=lambda r: r["time"])


def verdict(r: dict[str, Any], lang: str) -> str:
    if not r.get("complete") or r.get("laeq") is None:
        return T["incomplete"][lang]
    return T["above" if r.get("exceeded") else "within"][lang]


def rows(periods: list[dict[str, Any]], lang: str, tz: ZoneInfo) -> list[list[str]]:
    return [[datetime.fromtimestamp(r["time"], tz).strftime("%Y-%m-%d %H:%M"),
             r.get(f"label_{lang}") or r["period"], r.get("regulation") or "",
             r.get("area") or "", "-" if r.get("laeq") is None else f"{r['laeq']:.1f}",
             "-" if r.get("limit") is None else number(r["limit"]), verdict(r, lang),
             f"{r.get('n', 0)}/{r.get('expected', 0)}"] for r in periods]
