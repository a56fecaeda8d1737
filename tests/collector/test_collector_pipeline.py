"""The collector end to end against the session's real Mosquitto and InfluxDB.

Stations publish with their own credentials, exactly as a board does; what counts is what an
operator would see: points in InfluxDB (queried with InfluxQL as the read-only user), counters
in `Collector.stats`, and entries in the dead-letter file.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import random
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest
from collector_live import (
    WAIT_S,
    clear_all_retained,
    influxql,
    message,
    own_acked,
    points,
    publish,
    unique_time,
    wait_for,
)
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from collector.config import CollectorOptions, Settings
from collector.contracts import Reading
from collector.dead_letters import read
from collector.pipeline import Collector
from collector.sinks.influxdb.plugin import InfluxSink

pytestmark = pytest.mark.services


def settings(env: dict, run_dir: Path, client_id: str | None = None) -> Settings:
    return Settings.from_env(env, run_dir, {
        "sources": {"mqtt": {"client_id": client_id or f"test-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0}},
    })



def stored(c: Collector, station: str) -> int:
    return c.stats["stations"].get(station, {}).get("readings_stored", 0)


def test_good_readings_are_stored_and_bad_messages_are_refused_counted_and_kept(
        services, tmp_path, collectors):
    env, station = services, "pq-air-03"
    c = collectors(settings(env, tmp_path))
    t1, t2 = unique_time(), unique_time()
    good = message(station, t1)
    bad: dict[str, bytes | dict] = {
        "json": b'{"v": 1, "st": "pq-air-03",',
        "encoding": b"\xff\xfe not text",
        "schema": message(station, t1, so2=["12.5", "ppb", 0, 30, 0]),
        "nonfinite": json.dumps(message(station, t1)).replace("12.5", "NaN").encode(),
        "unknown_station": message("pq-air-99", t1),
        "mismatch": message("pq-air-04", t1),
        "unknown_param": message(station, t1, ph=[7.0, "pH", 0, 30, 0]),
        "unit": message(station, t1, so2=[12.5, "ppm", 0, 30, 0]),
        "future": message(station, int(time.time()) + 7200),
    }
    publish(env, station, [good, *bad.values(), message(station, t2)])

    wait_for(lambda: stored(c, station) == 6 and c.stats["totals"]["rejected"] == len(bad),
             "two good messages stored and every bad one refused")
    stats = c.stats
    assert stats["running"] and stats["totals"]["rejected_by_reason"] == dict.fromkeys(bad, 1)
    st = stats["stations"][station]
    assert st["messages"] == 2 + len(bad) and st["last_record_time"] == max(t1, t2)
    assert st["last_seen"] is not None and stats["totals"]["readings_stored"] >= 6

    got = points(env, station, t1)
    assert set(got) == {"so2", "pm10", "co"}
    so2 = got["so2"]
    # gases in µg/Nm³ (25 °C, 760 mmHg: ppb × M / 24.45), the value as sent kept in `raw`
    assert (so2["time"], so2["value"], so2["raw"], so2["unit"], so2["kind"], so2["station"]) \
        == (t1, pytest.approx(12.5 * 64.07 / 24.45), 12.5, "ug/Nm3", "air", station)
    assert (so2["status"], so2["qc"], so2["qc_bits"], so2["n"], so2["flags"]) == (0, 1, 0, 30, 0)
    pm10 = got["pm10"]
    assert (pm10["min"], pm10["max"], pm10["flags"], pm10["unit"], pm10["raw"]) == \
        (30.2, 41.0, 2, "ug/m3", None)
    assert (pm10["qc"], pm10["qc_bits"]) == (3, 256)  # suspect: fewer than 75 % of samples
    co = got["co"]
    assert co["value"] is None and co["status"] == 2 and co["unit"] == "ug/Nm3"
    assert (co["qc"], co["qc_bits"]) == (9, 128 | 512)  # missing; device error
    assert points(env, station, t2)["so2"]["raw"] == 12.5  # stored after all the bad ones

    letters = read(tmp_path / "collector" / "dead-letters.jsonl")
    assert sorted(e["class"] for e in letters) == sorted(bad)
    by_class = {e["class"]: e for e in letters}
    assert base64.b64decode(by_class["encoding"]["payload_b64"]) == bad["encoding"]
    assert by_class["json"]["payload"] == bad["json"].decode()
    assert by_class["unit"]["reason"] == "r[0].d.so2: unit 'ppm' differs from the registry's 'ppb'"
    assert "pq-air-99" in by_class["unknown_station"]["reason"]
    assert "'pq-air-04' differs from the topic's station 'pq-air-03'" in \
        by_class["mismatch"]["reason"]
    assert all(e["topic"] == f"quantrac/v1/{station}/data" for e in letters)


def test_a_message_sent_while_the_collector_is_down_arrives_after_a_restart(
        services, tmp_path, collectors):
    env, station, client_id = services, "pq-tap-02", f"test-{uuid.uuid4().hex[:8]}"
    first = collectors(settings(env, tmp_path, client_id))
    t0, t1 = unique_time(), unique_time()
    publish(env, station, [message(station, t0, ph=[7.0, "pH", 0, 30, 0])])
    wait_for(lambda: stored(first, station) == 1, "the first message")
    first.stop()
    publish(env, station, [message(station, t1, ph=[7.25, "pH", 0, 30, 0])])
    assert points(env, station, t1) == {}
    second = collectors(settings(env, tmp_path, client_id))
    wait_for(lambda: points(env, station, t1), "the queued message")
    assert points(env, station, t1)["ph"]["value"] == 7.25
    # the broker resends unacknowledged messages before queued ones: had the first message
    # not been acked, it would have been counted by now
    assert second.stats["stations"][station]["messages"] == 1


def test_a_message_is_acknowledged_once_spooled_and_stored_from_the_spool_later(
        services, tmp_path, collectors):
    """The database is unreachable: the message is acked anyway (it is durable in the spool),
    and a collector started later, with a NEW broker session that cannot get it again from
    the broker, stores it from the spool."""
    env, station = services, "pq-ww-03"
    clear_all_retained(env)  # what other tests left on the session's broker
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed
    good = settings(env, tmp_path)
    broken = dataclasses.replace(good, influx_write_url=dead_url,
                                 collector=CollectorOptions(stop_timeout_s=0.5))
    first = collectors(broken)
    t = unique_time()
    publish(env, station, [message(station, t, do=[6.1, "mg/L", 0, 30, 0])])
    wait_for(lambda: first.stats["sink"]["state"] == "retry", "a failed write")
    assert dead_url in first.stats["sink"]["last_error"]
    assert own_acked(first.stats, station) == 1 and first.stats["spool"]["depth"] >= 1
    first.stop()  # gives up the write; the reading stays in the spool
    assert points(env, station, t) == {}
    second = collectors(settings(env, tmp_path))  # same data_dir, another client id
    wait_for(lambda: stored(second, station) == 1, "the spooled reading")
    assert points(env, station, t)["do"]["value"] == 6.1
    assert second.stats["stations"].get(station, {}).get("messages", 0) == 0
    wait_for(lambda: second.stats["spool"]["depth"] == 0, "the cursor past it")


def test_status_and_event_messages_are_counted_not_stored(services, tmp_path, collectors):
    env, station = services, "pq-air-08"
    clear_all_retained(env)  # what other tests left on the session's broker
    c = collectors(settings(env, tmp_path))
    publish(env, station, [{"v": 1, "st": station, "online": False, "boot": "0badc0de"}],
            kind="status")
    publish(env, station, [{"v": 1, "st": station, "boot": "0badc0de", "ev": "birth"}],
            kind="event")
    wait_for(lambda: c.stats["stations"].get(station, {}).get("event") == 1, "the event")
    st = c.stats["stations"][station]
    assert (st["status"], st["online"], st["messages"], st["readings_stored"]) == (1, False, 0, 0)
    assert st["last_seen"] is not None and c.stats["totals"]["rejected"] == 0


def test_the_same_message_twice_is_stored_once_and_counted_as_a_duplicate(
        services, tmp_path, collectors):
    env, station = services, "pq-air-06"
    clear_all_retained(env)  # what other tests left on the session's broker
    c = collectors(settings(env, tmp_path))
    t = unique_time()
    msg = message(station, t)
    publish(env, station, [msg, msg])
    wait_for(lambda: c.stats["totals"]["duplicates"] == 1, "the second copy recognised")
    wait_for(lambda: stored(c, station) == 3, "the first copy written")
    rows = influxql(env, f"SELECT count(n) FROM reading WHERE station = '{station}' "
                         f"AND time = {t}s GROUP BY param")
    assert [r["count"] for r in rows] == [1, 1, 1]
    st = c.stats["stations"][station]
    assert (st["messages"], st["duplicates"], st["readings_stored"]) == (2, 1, 3)
    assert own_acked(c.stats, station) == 2 and c.stats["totals"]["rejected"] == 0


def test_readings_the_database_refuses_go_to_dead_letters_and_the_rest_is_stored(
        services, tmp_path, collectors):
    """A field-type conflict makes InfluxDB 1.x answer 400 "partial write" for some lines."""
    env, station = services, "pq-air-07"
    old = 1704067200 + random.randint(1, 50) * 604800 + 3600  # its own week of 2024: own shard
    token = f"{env['QUANTRAC_INFLUX_WRITE_USER']}:{env['QUANTRAC_INFLUX_WRITE_PASSWORD']}"
    with InfluxDBClient(url=env["QUANTRAC_INFLUX_WRITE_URL"], token=token, org="-") as client:
        client.write_api(write_options=SYNCHRONOUS).write(  # `n` is a float in that shard now
            bucket=f"{env['QUANTRAC_INFLUX_DB']}/autogen", record=f"reading,station=x n=1.5 {old}",
            write_precision=WritePrecision.S)
    c = collectors(settings(env, tmp_path))
    recent = unique_time()
    msg = message(station, recent, so2=[3.5, "ppb", 0, 30, 0])
    msg["r"].insert(0, {"t": old, "p": 300, "d": {"so2": [4.5, "ppb", 0, 30, 0]}})
    publish(env, station, [msg])
    wait_for(lambda: c.stats["totals"]["rejected_by_reason"].get("sink") == 1,
             "the database's refusal")
    wait_for(lambda: stored(c, station) == 1, "the recent reading")
    assert points(env, station, recent)["so2"]["raw"] == 3.5
    (letter,) = read(tmp_path / "collector" / "dead-letters.jsonl")
    assert letter["class"] == "sink" and letter["reading"]["time"] == old
    assert "HTTP 400" in letter["reason"] and "conflict" in letter["reason"]


def test_line_protocol_escaping_round_trips_through_the_real_database(services):
    env = services
    tag = f"test esc,{uuid.uuid4().hex[:6]}=x"
    t = unique_time()
    rows_in = [Reading(station=tag, kind="air", param="so2", unit="ug m3,a=b", time=t,
                       value=1.5e20, status=0, min=1e-05, max=2.0e20)]
    sink = InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])
    try:
        assert sink.write(rows_in).accepted == [0]
    finally:
        sink.close()
    escaped = tag.replace("'", "\\'")
    (row,) = influxql(env, f"SELECT * FROM reading WHERE station = '{escaped}'")
    assert (row["unit"], row["value"], row["min"], row["max"], row["time"]) == \
        ("ug m3,a=b", 1.5e20, 1e-05, 2.0e20, t)


def test_the_collector_reconnects_by_itself_after_the_broker_restarts(tmp_path, collectors):
    """A private stack, so restarting its broker disturbs no other test."""
    from collector import services as svc

    run_dir = tmp_path / "run"
    env = svc.up(run_dir, bench=True)  # publishes through the bench account
    c = None
    try:
        station = "pq-sea-02"
        s = Settings.from_env(env, tmp_path, {"sources": {"mqtt": {
            "client_id": f"test-{uuid.uuid4().hex[:8]}", "reconnect_min_s": 0.2,
            "reconnect_max_s": 1.0}}})
        c = collectors(s)
        t0, t1 = unique_time(), unique_time()
        publish(env, station, [message(station, t0, tss=[12.0, "mg/L", 0, 30, 0])])
        wait_for(lambda: stored(c, station) == 1, "the first message")
        (broker,) = [row for row in svc.status(run_dir) if row["name"] == "mosquitto"]
        os.kill(broker["pid"], signal.SIGTERM)  # started by svc.up above
        wait_for(lambda: not c.stats["source"]["connected"], "the collector to notice")
        assert svc.up(run_dir)["QUANTRAC_MQTT_PORT"] == env["QUANTRAC_MQTT_PORT"]
        wait_for(lambda: c.stats["source"]["connects"] == 2, "the collector to reconnect")
        assert c.wait_ready(WAIT_S)
        publish(env, station, [message(station, t1, tss=[13.0, "mg/L", 0, 30, 0])])
        wait_for(lambda: stored(c, station) == 2, "the message after the restart")
        assert points(env, station, t1)["tss"]["value"] == 13.0
        assert c.stats["running"]
    finally:
        if c is not None:
            c.stop()  # before its broker goes away for good
        svc.down(run_dir)


def test_database_writes_report_the_hours_they_touched_late_records_included(
        services, tmp_path, collectors):
    env, station = services, "pq-air-02"
    c = collectors(settings(env, tmp_path))
    touched: list[set] = []
    c.add_stored_listener(touched.append)
    now = unique_time() // 3600 * 3600 + 600  # 00:10 past some hour
    msg = message(station, now, so2=[5.0, "ppb", 0, 30, 0])
    msg["r"].insert(0, {"t": now - 5 * 3600, "p": 300,  # a backfilled record, 5 hours late
                        "d": {"so2": [4.0, "ppb", 0, 30, 0]}})
    publish(env, station, [msg])
    wait_for(lambda: any((station, "so2", now - 600) in t for t in touched), "the listener")
    assert {(station, "so2", now - 600), (station, "so2", now - 600 - 5 * 3600)} <= \
        set().union(*touched)
    assert points(env, station, now - 5 * 3600)["so2"]["raw"] == 4.0  # at its own time


def test_a_redelivery_after_a_restart_is_recognised_from_the_saved_state(
        services, tmp_path, collectors):
    env, station = services, "pq-air-05"
    first = collectors(settings(env, tmp_path))
    msg = message(station, unique_time())
    publish(env, station, [msg])
    wait_for(lambda: stored(first, station) == 3, "the message stored")
    first.stop()  # saves the processors' state in <data_dir>/state.json
    second = collectors(settings(env, tmp_path))  # same data_dir, a new broker session
    publish(env, station, [msg])  # the station sends it again (say, it missed the PUBACK)
    wait_for(lambda: second.stats["totals"]["duplicates"] == 1, "the copy recognised")
    assert stored(second, station) == 0


class _Bug:
    """A stage with a bug: it raises on one value (stands in for a processor bug)."""

    name = "bug"

    def process(self, batch):
        if any(r.value == 66.6 for r in batch.readings):
            raise ZeroDivisionError("a bug")
        return batch


def test_a_processor_bug_dead_letters_the_batch_and_the_fixed_replay_is_stored(
        services, tmp_path, collectors):
    env, station = services, "pq-air-04"
    c = collectors(settings(env, tmp_path))
    c.processors.append(_Bug())
    msg = message(station, unique_time(), rh=[66.6, "%", 0, 30, 0])
    publish(env, station, [msg])
    wait_for(lambda: c.stats["totals"]["rejected_by_reason"].get("internal") == 1,
             "the failed batch dead-lettered")
    (letter,) = read(tmp_path / "collector" / "dead-letters.jsonl")
    assert "processor bug failed: ZeroDivisionError('a bug')" in letter["reason"]
    c.processors.pop()  # the fix; the same message again, as `dead-letters replay` sends it
    publish(env, station, [msg])
    wait_for(lambda: stored(c, station) == 1, "the replayed message stored")
    assert c.stats["totals"]["duplicates"] == 0
