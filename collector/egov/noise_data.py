"""A station-day's noise periods for the open data: each regulation period that ended in the
day (`noise_period`, judged by the alerts stage: docs/noise.md), with its LAeq, its limit and
whether it was exceeded, as people read them in the file's language."""

from __future__ import annotations

from typing import Any

from collector.report import noise

FIELDS = ("laeq", "limit", "exceeded", "complete", "n", "expected", "regulation", "status",
          "confidence", "hours_from", "label_vi", "label_en")


def fetch_day_noise(env: dict[str, str], station: str, after: int, until: int,
                    timeout: float = 60.0) -> list[dict[str, Any]]:
    """The station's judged noise periods ending after `after` up to `until`, oldest first."""
    return noise.fetch(env, station, after, until, timeout, FIELDS)


def day_noise(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """The periods as published: LAeq rounded to 0.1 dB, the period named in `lang`."""
    out = []
    for r in rows:
        laeq = r.get("laeq")
        out.append({
            "period": r["period"], "label": r.get(f"label_{lang}"),
            "regulation": r.get("regulation"), "area": r.get("area"),
            "end": int(r["time"]),
            "laeq": None if laeq is None else round(float(laeq), 1),
            "limit": r.get("limit"), "exceeded": r.get("exceeded"),
            "complete": r.get("complete"), "hours": r.get("n"), "of_hours": r.get("expected"),
            "limit_status": r.get("status"), "confidence": r.get("confidence"),
            "clock_hours_from": r.get("hours_from"), "unit": "dBA"})
    return out
