"""Retention as data (collector/retention.json): every measurement has a policy, `services up`
creates and alters the policies on the real InfluxDB (and moves aggregates an older database
kept in the default policy), and the collector's sink writes each measurement into its own."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from collector import retention
from collector.contracts import Point, Reading
from collector.services import influxdb
from collector.sinks.influxdb.plugin import InfluxSink
from quantrac_common import influxql, paths

SHIPPED = retention.shipped()


def _admin(env: dict) -> tuple[str, str]:
    return env["QUANTRAC_INFLUX_ADMIN_USER"], env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]


@pytest.fixture
def fresh_db(services):
    """A database of this test's own, set up as `services up` sets up `quantrac`."""
    db = f"retention_{uuid.uuid4().hex[:8]}"
    env = {**services, "QUANTRAC_INFLUX_DB": db}
    yield env
    influxdb.query(services["QUANTRAC_INFLUX_URL"], f'DROP DATABASE "{db}"', _admin(services))


def _bootstrap(env: dict) -> None:
    influxdb.bootstrap(env["QUANTRAC_INFLUX_URL"], _admin(env),
                       (env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"]),
                       (env["QUANTRAC_INFLUX_READ_USER"], env["QUANTRAC_INFLUX_READ_PASSWORD"]),
                       paths.ROOT, database=env["QUANTRAC_INFLUX_DB"])


def test_every_measurement_of_the_schema_has_a_policy():
    text = (paths.DOCS / "influxdb-schema.md").read_text()
    documented = set()
    for heading in re.findall(r"^#{2,3} (.+)$", text, re.M):
        documented.update(re.findall(r"`(\w+)`", heading.split(":")[0]))
    assert documented == set(SHIPPED.measurements)


def test_raw_data_is_kept_for_ever_until_the_department_confirms_a_period():
    raw = SHIPPED.policies[SHIPPED.policy("reading")]
    assert raw.default and raw.duration == "INF" and raw.confirmed is False
    assert "unconfirmed" in raw.source
    for m in ("mean", "aqi", "wqi", "alert"):
        kept = SHIPPED.policies[SHIPPED.policy(m)]
        assert kept.name != raw.name and kept.duration == "INF"
    assert SHIPPED.qualified("mean") == '"derived"."mean"'
    assert SHIPPED.qualified("reading") == '"reading"'


@pytest.mark.parametrize("change, error", [
    ({"duration": "10 years"}, "policies.autogen.duration '10 years': not INF or an InfluxQL"),
    ({"duration": "30m"}, "shorter than the hour"),
    ({"default": "yes"}, "policies.autogen.default must be true or false"),
    ({"keep": 1}, "policies.autogen.keep: unknown key"),
    ({"default": False}, "exactly one policy must be the default"),
])
def test_a_wrong_retention_file_names_the_key(change, error):
    doc = {"policies": {"autogen": {"default": True, "duration": "INF", **change},
                        "derived": {"duration": "INF"}},
           "measurements": {"reading": "autogen"}}
    with pytest.raises(retention.RetentionError, match=re.escape(error)):
        retention.parse(doc)


def test_a_measurement_in_an_unknown_policy_is_refused():
    doc = {"policies": {"autogen": {"default": True, "duration": "INF"}},
           "measurements": {"mean": "forever"}}
    with pytest.raises(retention.RetentionError, match="measurements.mean = 'forever' is not"):
        retention.parse(doc)


@pytest.mark.services
def test_services_up_applies_the_policies_and_a_changed_duration(services, fresh_db):
    have = influxdb.retention_policies(services["QUANTRAC_INFLUX_URL"], _admin(services))
    assert have == {"autogen": (None, True), "derived": (None, False)}

    _bootstrap(fresh_db)
    base, db = fresh_db["QUANTRAC_INFLUX_URL"], fresh_db["QUANTRAC_INFLUX_DB"]
    ten_years = retention.Retention(
        {**SHIPPED.policies,
         "autogen": retention.Policy("autogen", "3650d", True, True, "", "")},
        SHIPPED.measurements)
    assert influxdb.apply_retention(base, _admin(fresh_db), db, ten_years) == ["autogen 3650d"]
    assert influxdb.apply_retention(base, _admin(fresh_db), db, ten_years) == []  # idempotent
    assert influxdb.retention_policies(base, _admin(fresh_db), db) == \
        {"autogen": (3650 * 86400, True), "derived": (None, False)}


@pytest.mark.services
def test_the_sink_writes_aggregates_into_their_own_policy(fresh_db):
    _bootstrap(fresh_db)
    env = fresh_db
    t = int(time.time()) - 7200
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        result = sink.write([
            Reading(station="pq-air-01", kind="air", param="so2", unit="ug/Nm3", time=t,
                    value=12.5, status=0),
            Point("mean", {"station": "pq-air-01", "param": "so2", "period": "1h"},
                  {"value": 12.5, "n": 12}, t)])
    finally:
        sink.close()
    assert result.accepted == [0, 1] and not result.rejected

    def n(q: str) -> int:
        return len(influxql.rows(influxql.query(env, q)))
    assert n('SELECT * FROM "derived"."mean"') == 1
    assert n('SELECT * FROM "autogen"."mean"') == 0
    assert n('SELECT * FROM "autogen"."reading"') == 1
    assert n(f"SELECT * FROM {SHIPPED.qualified('mean')}") == 1


@pytest.mark.services
def test_a_database_from_before_the_split_keeps_its_aggregates_history(fresh_db):
    """Means and alerts written into the default policy before `derived` existed are copied
    into it when `services up` first creates it, field types and tags unchanged."""
    env = fresh_db
    base, db, admin = env["QUANTRAC_INFLUX_URL"], env["QUANTRAC_INFLUX_DB"], _admin(env)
    influxdb.query(base, f'CREATE DATABASE "{db}"', admin)  # only `autogen`, as before
    old = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], db, env["QUANTRAC_INFLUX_WRITE_USER"],
                     env["QUANTRAC_INFLUX_WRITE_PASSWORD"],
                     retention=retention.Retention(
                         {"autogen": SHIPPED.policies["autogen"]}, {}))
    _bootstrap_grants_only(env)
    t = int(time.time()) - 30 * 86400
    try:
        assert old.write([
            Point("mean", {"station": "pq-air-01", "param": "so2", "period": "1h"},
                  {"value": 10.0, "n": 12, "complete": True}, t),
            Point("alert", {"station": "pq-air-01", "rule": "qcvn05.so2.1h"},
                  {"state": "open", "value": 400.0}, t)]).accepted == [0, 1]
    finally:
        old.close()
    _bootstrap(env)
    rows = influxql.rows(influxql.query(env, 'SELECT * FROM "derived"."mean"'))
    assert [(r["time"], r["station"], r["value"], r["n"], r["complete"]) for r in rows] == \
        [(t, "pq-air-01", 10.0, 12, True)]
    assert influxql.rows(influxql.query(env, 'SELECT "state" FROM "derived"."alert"'))
    types = influxql.rows(influxql.query(env, 'SHOW FIELD KEYS FROM "derived"."mean"'))
    assert {r["fieldKey"]: r["fieldType"] for r in types} == \
        {"value": "float", "n": "integer", "complete": "boolean"}


def _bootstrap_grants_only(env: dict) -> None:
    base, db, admin = env["QUANTRAC_INFLUX_URL"], env["QUANTRAC_INFLUX_DB"], _admin(env)
    for user, right in ((env["QUANTRAC_INFLUX_WRITE_USER"], "WRITE"),
                        (env["QUANTRAC_INFLUX_READ_USER"], "READ")):
        influxdb.query(base, f'GRANT {right} ON "{db}" TO "{user}"', admin)
