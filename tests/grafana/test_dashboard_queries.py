"""Every query of every dashboard, run as Grafana would run it, finds data that the real
pipeline stored: template variables resolved from their own queries and substituted the way
Grafana's InfluxDB data source does, `$timeFilter` and `$__interval` from each dashboard's
time range, with the read-only user (tests/grafana/conftest.py loads the data)."""

from __future__ import annotations

import network_day
import pytest
from click.testing import CliRunner

from collector.services.state import format_env
from grafana import build, check, facts
from grafana.builders import overview
from grafana.labels import LANGS
from grafana.provisioning import gazetteer
from quantrac.cli import main
from quantrac_common import influxql

pytestmark = pytest.mark.services

DASHBOARDS = {(lang, d["uid"]): d for lang in LANGS for d in build.dashboards(lang)}


@pytest.mark.parametrize("key", sorted(DASHBOARDS), ids=lambda k: k[1])
def test_every_panel_query_returns_data(pipeline_data, key):
    env, _plan = pipeline_data
    results = check.check(DASHBOARDS[key], env)
    empty = [f"{r.where} [{r.ref}]: {r.error or 'no rows'}\n    {r.query}"
             for r in results if not r.ok]
    assert not empty, "\n".join(empty)
    panels = {r.where for r in results if not r.where.startswith(("variable", "annotation"))}
    assert len(panels) >= 4


def test_the_alert_annotation_shows_the_alert_texts(pipeline_data):
    env, plan = pipeline_data
    doc = DASHBOARDS[("vi", "quantrac-air")]
    got = [r for r in check.check(doc, env) if r.where.startswith("annotation")]
    assert got and got[0].ok and "text" in got[0].columns
    texts = {row["text"] for row in influxql.rows(influxql.query(env, got[0].query))}
    assert any("SO2" in x and "QCVN 05:2023/BTNMT" in x for x in texts)


def test_the_map_finds_every_station_it_is_given_in_the_gazetteer(pipeline_data):
    env, _ = pipeline_data
    known = {g["key"] for g in gazetteer()}
    q = check.interpolate(overview.latest_aqi([]), {}, "now-24h")
    aqi = influxql.rows(influxql.query(env, q))
    q = check.interpolate(overview.latest_wqi([]), {}, "now-24h")
    wqi = influxql.rows(influxql.query(env, q))
    assert aqi and wqi
    assert {r["station"] for r in aqi + wqi} <= known
    assert all(r["band"] in {b.key for b in facts.aqi_bands()} for r in aqi)


def test_open_alerts_are_the_ones_still_open(pipeline_data):
    """The SO2 episode that ended closed its alert; the one running at the end did not."""
    env, _ = pipeline_data
    from grafana.builders import alerts

    q = check.interpolate(alerts.open_alerts("vi", []), {}, "now-7d")
    open_now = influxql.rows(influxql.query(env, q))
    rules = {(r["station"], r["rule"]) for r in open_now}
    assert ("pq-air-02", "qcvn05.so2.1h") in rules
    assert ("pq-ww-02", "qcvn14_2025.nh4.1h") in rules
    closed = influxql.rows(influxql.query(
        env, "SELECT \"state\" FROM derived.alert WHERE rule = 'qcvn05.so2.1h' "
             "AND event = 'close'"))
    assert closed, "the first SO2 episode should have closed its alert"


def test_the_simulated_stations_own_status_and_events_are_device_points(pipeline_data):
    """The unix-port firmware's retained status, birth and first health event went through
    the collector's device stage."""
    env, _ = pipeline_data
    from network_day import LIVE

    def rows(message: str) -> list[dict]:
        return influxql.rows(influxql.query(
            env, f"SELECT * FROM device WHERE station = '{LIVE}' AND message = '{message}'"))

    status, birth, health = rows("status"), rows("birth"), rows("health")
    assert status and status[0]["online"] is True and status[0]["fw"]
    assert birth and birth[0]["reset"] and birth[0]["fw"] == status[0]["fw"]
    assert birth[0]["slot"] == "-"  # its modules run from no update slot
    assert health and health[0]["heap"] > 0 and health[0]["uptime"] >= 0
    assert {r["kind"] for r in status + birth + health} == {"air"}


def test_quantrac_grafana_check_reports_every_query(pipeline_data, tmp_path):
    env, _ = pipeline_data
    (tmp_path / "services.env").write_text(format_env(env))
    out = CliRunner().invoke(main, ["grafana", "check", "--run-dir", str(tmp_path),
                                    "--lang", "en"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert all(line.startswith("ok ") for line in lines), out.output
    assert any("quantrac-wall-en | " in line for line in lines)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "services.env").write_text(format_env({**env, "QUANTRAC_INFLUX_DB": "nothing"}))
    bad = CliRunner().invoke(main, ["grafana", "check", "--run-dir", str(empty)])
    assert bad.exit_code == 1 and "FAIL" in bad.output


def test_the_forecast_fan_panel_shows_the_forecasters_issue_beside_the_measured_series(
        pipeline_data):
    """The air dashboard's PM2.5 and VN_AQI panels, run as Grafana would: A the measured
    hourly series, B for each hour ahead the central value and the 10–90 % band the real
    forecaster wrote in its pass (tests/grafana/conftest.py)."""
    env, plan = pipeline_data
    fc = plan.forecasts[network_day.AIR]
    doc = DASHBOARDS[("en", "quantrac-air-en")]
    got = {(r.where, r.ref): r for r in check.check(doc, env)}
    pm = got[("PM2.5: measured and forecast", "B")]
    assert pm.ok, pm.error
    rows = {r["time"]: r for r in influxql.rows(influxql.query(env, pm.query))}
    want = fc.params["pm2_5"]
    ahead = [fc.issued + h * 3600 for h in range(1, len(want.values) + 1)]
    assert all(t in rows and rows[t]["issued"] == fc.issued for t in ahead)
    for t, (v, lo, hi) in zip(ahead, want.values, strict=True):
        assert (rows[t]["forecast"], rows[t]["p10"], rows[t]["p90"]) == \
            (round(float(v), 2), round(float(lo), 2), round(float(hi), 2))
    assert got[("PM2.5: measured and forecast", "A")].ok  # the measured series beside it
    aqi = got[("Hourly VN_AQI: measured and forecast", "B")]
    rows = {r["time"]: r for r in influxql.rows(influxql.query(env, aqi.query))}
    hourly = {t: (a, lo, hi) for t, a, lo, hi in fc.aqi_hourly if a is not None}
    assert hourly and all((rows[t]["forecast"], rows[t]["p10"], rows[t]["p90"]) == v
                          for t, v in hourly.items())


def test_the_fleet_firmware_panel_shows_each_stations_last_update_and_boot(pipeline_data):
    """The devices dashboard's "Fleet firmware" table, run as Grafana would: A is each
    station's newest `ota` event (the refusal, not the download before it, and its why), B its
    newest birth (the watchdog restart, not the first power-on) with the slot it runs, shown
    in its own column ("-", a station flashed without OTA, as words)."""
    env, plan = pipeline_data
    doc = DASHBOARDS[("en", "quantrac-quality-en")]
    got = {r.ref: r for r in check.check(doc, env) if r.where == "Fleet firmware"}
    assert set(got) == {"A", "B"} and all(r.ok for r in got.values()), got
    ota = {r["station"]: r for r in influxql.rows(influxql.query(env, got["A"].query))}
    refused = [doc for kind, doc in plan.messages[network_day.OTA]
               if kind == "event" and doc["ev"] == "ota" and doc["state"] == "refused"]
    assert set(ota) == {network_day.OTA}
    row = ota[network_day.OTA]
    assert (row["state"], row["ver"], row["why"]) == (
        "refused", "0.1.0", "signature does not match the manifest")
    assert row["time"] == refused[0]["t"]  # "When": the update result's own time
    boots = {r["station"]: r for r in influxql.rows(influxql.query(env, got["B"].query))}
    assert set(network_day.STATIONS) <= set(boots)
    assert (boots[network_day.NH4_HIGH]["reset"], boots[network_day.NH4_HIGH]["crumb"]) == (
        "watchdog", "publish")
    assert boots[network_day.OTA]["fw"] == "0.0.9"
    assert (boots[network_day.OTA]["slot"], boots[network_day.NH4_HIGH]["slot"]) == ("a", "-")
    panel = next(p for p in doc["panels"] if p.get("title") == "Fleet firmware")
    organize = next(x["options"] for x in panel["transformations"] if x["id"] == "organize")
    assert organize["renameByName"]["slot"] == "Slot"
    assert organize["indexByName"]["slot"] == organize["indexByName"]["fw"] + 1
    slot = next(o for o in panel["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Slot")
    (mapping,) = slot["properties"][0]["value"]
    assert mapping["options"]["-"]["text"] == "none (flashed without OTA)"


def test_the_wall_shows_each_stations_next_24_h_forecast_peak_labelled_a_forecast(
        pipeline_data):
    """Screen 3's forecast tiles, run as Grafana would: per station the highest hourly
    VN_AQI the real forecaster's pass (tests/grafana/conftest.py) forecasts for the next 24 h,
    under a title that says forecast, not a measurement, beside (not in) the measured tiles."""
    import time

    env, plan = pipeline_data
    fc = plan.forecasts[network_day.AIR]
    for lang, says in (("vi", "Dự báo (không phải số đo)"), ("en", "Forecast (not a measurement)")):
        doc = DASHBOARDS[(lang, "quantrac-wall" + ("-en" if lang == "en" else ""))]
        panel = next(p for p in doc["panels"] if p["title"].startswith(says))
        assert "forecast" in panel["targets"][0]["query"]
        assert all("forecast" not in p["targets"][0]["query"] for p in doc["panels"]
                   if p is not panel and p.get("targets"))
    got = [r for r in check.check(DASHBOARDS[("en", "quantrac-wall-en")], env)
           if r.where.startswith("Forecast (not a measurement)")]
    assert len(got) == 1 and got[0].ok, got

    def peak(now: float) -> int:
        return max(a for t, a, _lo, _hi in fc.aqi_hourly
                   if a is not None and now < t <= now + 24 * 3600)

    before = peak(time.time())
    rows = influxql.rows(influxql.query(env, got[0].query))
    after = peak(time.time())
    shown = {r["station"]: r["forecast"] for r in rows}
    assert shown[network_day.AIR] in (before, after), (shown, before, after)


def test_the_walls_forecast_peak_is_the_latest_issues_and_a_stale_forecast_drops_out(
        pipeline_data):
    """Three issues for one station: a stale one (30 h old, AQI 400), the previous hour's
    (AQI 120) and the latest (AQI 90): the tile shows the latest issue's peak, not the
    highest of all forecasts stored for those hours; with the latest two gone, the stale
    one is not shown at all."""
    import time

    from collector.contracts import Point
    from forecast.service import sink

    env, _ = pipeline_data
    station = "fc-wall-01"
    now_h = int(time.time()) // 3600 * 3600

    def issue(issued: int, value: float) -> list[Point]:
        return [Point("forecast", {"station": station, "param": "vn_aqi", "period": "1h",
                                   "horizon": str(h), "model": "gbm"},
                      {"value": value, "issued": issued}, issued + h * 3600)
                for h in range(1, 73) if now_h < issued + h * 3600 <= now_h + 26 * 3600]

    def shown() -> float | None:
        wall = DASHBOARDS[("en", "quantrac-wall-en")]
        (q,) = [r.query for r in check.check(wall, env)
                if r.where.startswith("Forecast (not a measurement)")]
        return {r["station"]: r["forecast"]
                for r in influxql.rows(influxql.query(env, q))}.get(station)

    r = sink(env).write(issue(now_h - 30 * 3600, 400.0))
    assert not r.error and not r.rejected
    assert shown() is None  # only the stale issue: nothing rather than a day-old forecast
    r = sink(env).write(issue(now_h - 3600, 120.0) + issue(now_h, 90.0))
    assert not r.error and not r.rejected
    assert shown() == 90.0
