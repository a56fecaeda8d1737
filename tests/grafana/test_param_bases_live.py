"""Two probes of one parameter, through the real pipeline into the real InfluxDB: the raw-water
source pq-tap-02 with a second pH probe (`ph_2`, `temp_2`: boards/param_names.py) publishes
three hours as the station; the collector stores both series under their own names, judges the
second probe by the pH limit with an alert of its own, counts one pH in the VN_WQI, and the
water dashboard's pH panel and the open data show both probes."""

from __future__ import annotations

import json
import time
import uuid
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest

import boards
from collector.config import Settings, with_options
from collector.domain import wqi
from collector.egov import datafile, opendata
from collector.pipeline import Collector
from grafana import build, check, facts
from quantrac_common import influxql

pytestmark = pytest.mark.services

ST = "pq-tap-02"
STEP, H = 300, 3600
RULE2 = "qcvn08_2023.ph_2.1h"
PH2 = {"id": "ph2", "model": "qt-ph-485", "uart": "rs485", "address": 9,
       "params": {"ph": "ph_2", "temp": "temp_2"}}
WAIT_S = 120


@pytest.fixture
def second_ph(edited):
    edited("profiles/raw-water", lambda p: p["sensors"].append(dict(PH2)))
    facts.groups.cache_clear()
    yield
    facts.groups.cache_clear()


def _records(end: int) -> list[dict]:
    """Three hours of 5-minute records ending at `end`, one message an hour: the first probe
    within QCVN 08 column A's pH range, the second above it."""
    out, hour = [], []
    for t in range(end - 3 * H + STEP, end + 1, STEP):
        wave = (t // STEP) % 5 * 0.01  # never a flat line for QC
        hour.append({"t": t, "p": STEP, "d": {
            "ph": [7.2 + wave, "pH", 0, 30, 0], "temp": [29.0 + wave, "degC", 0, 30, 0],
            "ph_2": [9.6 + wave, "pH", 0, 30, 0], "temp_2": [12.0 + wave, "degC", 0, 30, 0],
            "do": [6.5 + wave, "mg/L", 0, 30, 0], "tss": [20.0 + wave, "mg/L", 0, 30, 0],
            "nh4": [0.2 + wave, "mg/L", 0, 30, 0]}})
        if len(hour) == 12:
            out.append(hour)
            hour = []
    return out


def _publish(env: dict[str, str], end: int) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                    client_id=f"{ST}-probes-{uuid.uuid4().hex[:6]}")
    c.username_pw_set(env["QUANTRAC_MQTT_BENCH_USER"], env["QUANTRAC_MQTT_BENCH_PASSWORD"])
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    try:
        boot = uuid.uuid4().hex[:8]
        for seq, hour in enumerate(_records(end)):
            doc = {"v": 1, "st": ST, "fw": "0.1.0", "boot": boot, "seq": seq, "r": hour}
            c.publish(f"quantrac/v1/{ST}/data", json.dumps(doc), qos=1).wait_for_publish(10)
    finally:
        c.loop_stop()
        c.disconnect()


def _q(env: dict[str, str], q: str) -> list[dict]:
    return influxql.rows(influxql.query(env, q))


def _missing(env: dict[str, str]) -> list[str]:
    out = []
    if not _q(env, f"SELECT * FROM derived.alert WHERE station = '{ST}' AND rule = '{RULE2}'"):
        out.append("the second probe's pH alert")
    if len(_q(env, f"SELECT * FROM derived.wqi WHERE station = '{ST}'")) < 2:
        out.append("the hourly WQI")
    return out


def test_a_second_probe_is_stored_judged_counted_once_and_drawn(second_ph, dashboard_db,
                                                                 tmp_path):
    env = dashboard_db
    settings = with_options(Settings.from_env(env, run_dir=tmp_path),
                            mqtt={"client_id": f"probes-{uuid.uuid4().hex[:8]}"})
    now = int(time.time())
    end = now - now % H  # whole hours, so every hour's mean is complete
    collector = Collector(settings)
    collector.start()
    try:
        assert collector.wait_ready(WAIT_S), "collector never subscribed"
        _publish(env, end)
        deadline = time.monotonic() + WAIT_S
        while (missing := _missing(env)) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        collector.stop()
    assert not missing, f"not stored after {WAIT_S} s: {missing}"

    # both series kept their own names: today's `ph` untouched, the second probe beside it
    params = {r["value"] for r in _q(env, f"SHOW TAG VALUES FROM reading WITH KEY = param "
                                          f"WHERE station = '{ST}'")}
    assert {"ph", "ph_2", "temp", "temp_2"} <= params

    # judged by the pH limit (6.0-8.5, column A) under a rule of its own, saying which probe
    alerts = _q(env, f"SELECT * FROM derived.alert WHERE station = '{ST}'")
    rules = {a["rule"] for a in alerts}
    assert RULE2 in rules and "qcvn08_2023.ph.1h" not in rules
    text = next(a["text_en"] for a in alerts if a["rule"] == RULE2)
    assert "pH (probe 2)" in text

    # one pH and one temperature in the WQI: the first probe's, never the second's
    means = {(m["param"], m["time"]): m["value"] for m in _q(
        env, f"SELECT * FROM derived.mean WHERE station = '{ST}' AND period = '1h'")}
    for w in _q(env, f"SELECT * FROM derived.wqi WHERE station = '{ST}'"):
        t = w["time"]
        first = {p: means[p, t] for p in ("ph", "do", "temp", "nh4")}
        second = {**first, "ph": means["ph_2", t], "temp": means["temp_2", t]}
        assert w["sub_ph"] == pytest.approx(wqi.wqi(first).sub["ph"])
        assert w["sub_do"] == pytest.approx(wqi.wqi(first).sub["do"])
        assert w["sub_ph"] != pytest.approx(wqi.wqi(second).sub["ph"])

    # the water dashboard's pH panel draws both probes, one series each
    group = next(g for g in facts.groups() if ST in g.ids)
    doc = next(d for d in build.dashboards("en") if d["uid"] == f"quantrac-{group.slug}-en")
    panel = [q for _w, _r, q, _i in check.queries(doc) if "ph_2" in q and 'AS "pH"' in q]
    assert panel, "no panel selects the second pH probe"
    q = check.interpolate(panel[0], {"station": ([ST], True)}, "now-6h")
    series = influxql.query(env, q)
    assert {s["tags"]["param"] for s in series} == {"ph", "ph_2"}
    assert all(len(s["values"]) >= 2 for s in series)
    (shown,) = [p for p in check._panels(doc["panels"])
                if any("ph_2" in t.get("query", "") for t in p.get("targets", []))]
    names = {o["matcher"]["options"]: o["properties"][0]["value"]
             for o in shown["fieldConfig"]["overrides"]}
    assert names == {"ph": "pH", "ph_2": "pH (probe 2)"}  # each line says which probe

    # the open data: the base's symbol, the second probe told apart
    rows = opendata.fetch(env, ST, end - 3 * H, end)
    tz = ZoneInfo(boards.registry().timezone)
    cells = opendata.table(rows, ST, tz, datafile.load_symbols())
    assert {"pH", "pH_2", "Temp", "Temp_2"} <= {c[2] for c in cells}
