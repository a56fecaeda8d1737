"""Dashboards as code for a station that records a parameter under its own name (a second PM
probe, `pm2_5_b`: boards/param_names.py): the panels selecting that parameter select the
renamed channel too, and say which probe each line is. The live side (real pipeline data in
InfluxDB) is test_param_bases_live.py."""

from __future__ import annotations

import pytest

from grafana import build, check, facts


@pytest.fixture
def pm_b(edited):
    def rename(doc: dict) -> None:
        for s in doc["stations"]:
            if s["id"] == "pq-air-02":
                s["sensors"] = {"pm": {"params": {"pm2_5": "pm2_5_b"}}}

    edited("registry/phu-quoc", rename)
    facts.groups.cache_clear()
    yield
    facts.groups.cache_clear()


def _queries(uid: str) -> list[str]:
    doc = next(d for d in build.dashboards("en") if d["uid"] == uid)
    return [q for _w, _r, q, _i in check.queries(doc)]


def test_the_wall_and_the_air_limits_select_every_channel_of_pm2_5(pm_b):
    wall = [q for q in _queries("quantrac-wall-en") if "pm2_5" in q and "FROM" in q]
    assert any('"param" =~ /^(pm2_5|pm2_5_b)$/' in q and 'GROUP BY "station", "param"' in q
               for q in wall), wall
    air = [q for q in _queries("quantrac-air-en") if "pm2_5_b" in q]
    assert air and all('GROUP BY "param"' in q for q in air)


def test_without_a_renamed_channel_the_queries_are_as_before():
    wall = [q for q in _queries("quantrac-wall-en") if "pm2_5" in q and "mean" in q]
    assert wall and all("\"param\" = 'pm2_5'" in q for q in wall)
