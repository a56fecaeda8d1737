"""Pipeline data for the dashboard tests: the real collector, a simulated station and a
backdated day published as stations, all into a database of this module's own (so other
tests' data neither helps nor hides anything), read back with the read-only user."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid

import network_day
import pytest

import boards
from collector.config import Settings, with_options
from collector.pipeline import Collector
from collector.services import influxdb
from hil.station import SimulatedStation
from quantrac_common import influxql

LIVE = network_day.LIVE
clear_station_state = network_day.clear_station_state
WAIT_S = 120


def _admin(env: dict[str, str], statement: str) -> None:
    """CREATE/GRANT/DROP need POST and the admin user."""
    auth = urllib.parse.urlencode({"u": env["QUANTRAC_INFLUX_ADMIN_USER"],
                                   "p": env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]})
    body = urllib.parse.urlencode({"q": statement}).encode()
    url = env["QUANTRAC_INFLUX_URL"].rstrip("/") + "/query?" + auth
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
        doc = json.load(r)
    err = doc.get("results", [{}])[0].get("error")
    if err:
        raise RuntimeError(f"{statement}: {err}")


@pytest.fixture(scope="module")
def dashboard_db(services):
    """The services env pointing at a fresh database the writer may write and the reader
    read; dropped afterwards."""
    db = f"grafana_{uuid.uuid4().hex[:8]}"
    env = {**services, "QUANTRAC_INFLUX_DB": db}
    _admin(env, f'CREATE DATABASE "{db}"')
    try:
        _admin(env, f'GRANT WRITE ON "{db}" TO "{env["QUANTRAC_INFLUX_WRITE_USER"]}"')
        _admin(env, f'GRANT READ ON "{db}" TO "{env["QUANTRAC_INFLUX_READ_USER"]}"')
        influxdb.apply_retention(env["QUANTRAC_INFLUX_URL"], (env["QUANTRAC_INFLUX_ADMIN_USER"],
                                 env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]), db)
        yield env
    finally:
        _admin(env, f'DROP DATABASE "{db}"')


def _ready(env: dict[str, str], plan: network_day.Plan) -> list[str]:
    """What is not in the database yet."""
    def one(q: str) -> list[dict]:
        return influxql.rows(influxql.query(env, q))

    missing = []
    for st in network_day.STATIONS:
        got = one(f"SELECT last(\"status\") FROM reading WHERE station = '{st}'")
        if not got or got[0]["time"] != plan.end:
            missing.append(f"{st} readings up to {plan.end}")
    if not one("SELECT * FROM derived.alert WHERE \"state\" = 'open' AND rule = 'qcvn05.so2.1h' "
               f"AND station = '{network_day.AIR}'"):
        missing.append("the open SO2 alert")
    if not one(f"SELECT * FROM derived.noise_period WHERE station = '{network_day.AIR}'"):
        missing.append("a noise period judged whole")
    if not one(f"SELECT * FROM device WHERE station = '{network_day.OTA}' AND message = 'ota' "
               "AND \"state\" = 'refused'"):
        missing.append(f"{network_day.OTA} ota event")
    if not one(f"SELECT * FROM device WHERE station = '{LIVE}' AND message = 'health'"):
        missing.append(f"{LIVE} health event")
    if not one(f"SELECT * FROM reading WHERE station = '{LIVE}'"):
        missing.append(f"{LIVE} readings")
    if len(one("SELECT \"queued\" FROM \"collector\" WHERE scope = 'total'")) < 1:
        missing.append("collector self-metrics")
    return missing


@pytest.fixture(scope="module")
def pipeline_data(dashboard_db, tmp_path_factory):
    """Runs the collector, the simulated station and the backdated publishers until every
    kind of point is stored, stops them, and gives the env of the filled database."""
    env = dashboard_db
    run_dir = tmp_path_factory.mktemp("grafana-run")
    settings = with_options(Settings.from_env(env, run_dir=run_dir),
                            mqtt={"client_id": f"grafana-{uuid.uuid4().hex[:8]}"},
                            metrics={"interval_s": 1.0})
    # the broker is the session's: another test's station may have left a retained status
    # (online false, its own boot) that this collector would store as this day's
    clear_station_state(env, (*network_day.STATIONS, LIVE))
    collector = Collector(settings)
    sim = SimulatedStation(boards.registry().get(LIVE), env, run_dir, sample_s=1, report_s=5,
                           seed=11)
    plan = network_day.plan()
    missing: list[str] = []
    collector.start()
    try:
        sim.start()
        network_day.publish(env, plan)
        deadline = time.monotonic() + WAIT_S
        while (missing := _ready(env, plan)) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        sim.stop()
        collector.stop()
        clear_station_state(env, (*network_day.STATIONS, LIVE))
    assert not missing, f"not stored after {WAIT_S} s: {missing}"
    _forecast(env, plan, run_dir)
    return env, plan


def _forecast(env: dict[str, str], plan: network_day.Plan, run_dir) -> None:
    """One pass of the real forecaster over the air station's stored day (its hour ending at
    the plan's end), as `quantrac forecast serve` runs it: the forecast panels read it."""
    from forecast.forecaster import Forecaster
    from forecast.service import run_pass
    from forecast.warning import Warnings, load_rules

    res = run_pass(env, [network_day.AIR], Forecaster(),
                   Warnings(load_rules(), run_dir / "warnings.json"), plan.end)
    assert not res.errors, res.errors
    plan.forecasts = res.forecasts
