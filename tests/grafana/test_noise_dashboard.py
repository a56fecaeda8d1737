"""The noise dashboard and the wall's noise panel: limit lines from the noise regimes (never
retyped, nothing drawn for a regulation whose hours are not found), and what an operator
reads in them against the real InfluxDB with the data the night-market station published over
the real broker to the real collector (tests/grafana/network_day.py, conftest.py)."""

from __future__ import annotations

import pytest

from grafana import build, check
from quantrac_common import influxql

DOCS = {lang: {d["uid"]: d for d in build.dashboards(lang)} for lang in ("vi", "en")}


def panel(doc: dict, title: str) -> dict:
    return next(p for p in doc["panels"] if p.get("title") == title)


def test_the_hourly_laeq_has_the_qcvn26_2010_night_and_day_limit_lines():
    doc = DOCS["en"]["quantrac-noise-en"]
    p = panel(doc, "Hourly LAeq against the day and night limits")
    steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [(None, "green"), (55, "orange"),
                                                         (70, "red")]
    desc = p["description"]
    assert "QCVN 26:2010/BTNMT, normal area, night (21–6 h): 55 dBA (until 2026-12-31)" in desc
    assert "QCVN 26:2025/BNNMT: the periods' clock hours or the station's area are not " \
           "found" in desc
    wall = DOCS["vi"]["quantrac-wall"]
    noise = panel(wall, "Tiếng ồn: LAeq 1 giờ")
    assert noise["description"].startswith("Màn 12. ")
    assert noise["gridPos"] == {"x": 18, "y": 70, "w": 6, "h": 14}


@pytest.mark.services
def test_the_noise_dashboard_shows_the_night_markets_alert_and_its_judged_night(
        pipeline_data):
    env, _ = pipeline_data
    doc = DOCS["en"]["quantrac-noise-en"]
    results = {r.where: r for r in check.check(doc, env)}
    alerts = next(r for w, r in results.items() if "Noise alerts" in w)
    rows = influxql.rows(influxql.query(env, alerts.query))
    assert {(r["rule"], r["event"]) for r in rows} >= {("qcvn26_2010.laeq.night", "open")}
    assert all("night (21–6 h)" in r["text"] for r in rows if r["event"] == "open")
    periods = next(r for w, r in results.items() if "Whole-period" in w)
    judged = influxql.rows(influxql.query(env, periods.query))
    assert any(r["period"] == "night (21–6 h)" and r["exceeded"] and r["limit"] == 55
               for r in judged)
