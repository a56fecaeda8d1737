"""The bulletin's charts as PNG (matplotlib, Agg backend: no display): hourly VN_AQI bars in
their band colours, and a parameter's means with its limit, where a person would rather look
than read a column of numbers."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from collector.domain import aqi_health  # noqa: E402

TITLES = {"aqi": {"vi": "VN_AQI theo giờ", "en": "Hourly VN_AQI"},
          "aqi_day": {"vi": "VN_AQI theo ngày", "en": "Daily VN_AQI"},
          "limit": {"vi": "giới hạn", "en": "limit"},
          "means": {"1h": {"vi": "trung bình 1 giờ", "en": "1-hour means"},
                    "8h": {"vi": "trung bình 8 giờ", "en": "8-hour means"},
                    "24h": {"vi": "trung bình ngày", "en": "daily means"}}}


def _station(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in doc["stations"] if s["id"] == sid)


def draw(doc: dict[str, Any], key: str, lang: str) -> bytes:
    """PNG of chart `key`: "<station>/aqi" or "<station>/<param>/<period>"."""
    tz = ZoneInfo(doc["timezone"])
    sid, *rest = key.split("/")
    st = _station(doc, sid)
    fig, ax = plt.subplots(figsize=(7.5, 2.6), dpi=110)
    try:
        if rest == ["aqi"]:
            # a day: its hours; a month: its days (a month of hourly bars is a smear)
            hourly = doc["kind"] == "daily" or not st["aqi_day"]
            points = st["aqi_hour"] if hourly else st["aqi_day"]
            span = 3600 if hourly else 86400
            xs = [datetime.fromtimestamp(a["time"] - span, tz) for a in points]
            colours = [aqi_health.of_band(a["band"])["colour"] if a["band"] else "#999999"
                       for a in points]
            ax.bar(xs, [a["aqi"] for a in points], width=span / 86400 * 0.9, align="edge",
                   color=colours, edgecolor="#555555", linewidth=0.3)
            ax.set_title(f"{sid}: {TITLES['aqi' if hourly else 'aqi_day'][lang]}", fontsize=9)
        else:
            param, period = rest
            lim = next(x for x in st["limits"] if (x["param"], x["period"]) == (param, period))
            pts = st["series"][f"{param}/{period}"]
            ax.plot([datetime.fromtimestamp(t, tz) for t, _ in pts], [v for _, v in pts],
                    marker=".", linewidth=1, color="#1f77b4")
            for bound in ("max", "min"):
                if lim[bound] is not None:
                    ax.axhline(lim[bound], color="#d62728", linestyle="--", linewidth=1,
                               label=f"{TITLES['limit'][lang]} {lim[bound]:g} {lim['unit']}")
            if lim["max"] is not None or lim["min"] is not None:
                ax.legend(fontsize=7, loc="upper left")
            ax.set_title(f"{sid}: {param} ({lim['unit']}), "
                         f"{TITLES['means'].get(period, {}).get(lang, period)}", fontsize=9)
        loc = mdates.AutoDateLocator(tz=tz)
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz=tz))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
