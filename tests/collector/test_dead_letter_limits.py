"""Size limits against the session's real broker and database: an oversized message leaves a
small dead letter with its digest, and a dead-letter store full of readings the database
refused stops acknowledging (instead of dropping any) until a replay makes room."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from urllib.request import urlopen

import pytest
from click.testing import CliRunner
from collector_live import (
    WAIT_S,
    counts,
    influxql,
    message,
    points,
    publish,
    publish_many,
    unique_time,
    wait_for,
)
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from collector.config import Settings
from collector.dead_letters import read
from collector.services import influxdb
from quantrac.cli import main

pytestmark = pytest.mark.services
MINE = ["validate", "units", "dedupe", "qc"]
WEEK = 7 * 86400  # InfluxDB's shard duration under an infinite retention policy
MONDAY = 4 * 86400  # shards start on Mondays; 1970-01-01 was a Thursday


def test_an_oversized_message_leaves_a_small_dead_letter_with_its_digest(
        services, session_run_dir, tmp_path, collectors):
    env, station = services, "pq-air-12"
    c = collectors(Settings.from_env(env, tmp_path, {
        "collector": {"processors": MINE, "max_payload_bytes": 4096},
        "sources": {"mqtt": {"client_id": f"size-{uuid.uuid4().hex[:6]}"}}}))
    # what the broker lets through (its max_packet_size is 128 KiB), far over this collector's
    # limit: a backlog flush of 700 records
    big = message(station, unique_time())
    big["r"] = big["r"] * 700
    data = json.dumps(big).encode()
    status = b'{"online": true, "fw": "' + b"9" * 20000 + b'"}'
    assert 100_000 < len(data) < 128 << 10
    publish(env, station, [data])
    publish(env, station, [status], kind="status")
    t = unique_time()
    publish(env, station, [message(station, t)])  # the stream goes on
    wait_for(lambda: points(env, station, t), "the next message stored")
    wait_for(lambda: c.stats["totals"]["rejected_by_reason"].get("size") == 2, "both refused")

    path = tmp_path / "collector" / "dead-letters.jsonl"
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2 and all(len(line) < 2048 for line in lines), [len(x) for x in lines]
    first, second = read(path)
    for e, payload, kind in ((first, data, "data"), (second, status, "status")):
        assert (e["class"], e["topic"]) == ("size", f"quantrac/v1/{station}/{kind}")
        assert e["payload_sha256"] == hashlib.sha256(payload).hexdigest()
        assert e["payload_bytes"] == len(payload) and "payload" not in e
        assert e["payload_head"] == payload[:1024].decode()
        assert f"payload of {len(payload)} bytes is over the limit of 4096 bytes" in e["reason"]
    (tmp_path / "services.env").write_text((session_run_dir / "services.env").read_text())
    res = CliRunner().invoke(main, ["collector", "dead-letters", "replay", "--run-dir",
                                    str(tmp_path)])
    assert res.exit_code == 1 and res.output.count("FAILED (-): nothing to replay: only the "
                                                   "sha256 and first bytes") == 2, res.output


def test_a_flood_of_bad_input_costs_old_dead_letters_not_good_readings(
        services, tmp_path, collectors):
    env, bad, good = services, "pq-air-09", "pq-air-08"
    c = collectors(Settings.from_env(env, tmp_path, {
        "collector": {"processors": MINE, "dead_letters_max_bytes": 64 << 10,
                      "max_payload_bytes": 4096},
        "sources": {"mqtt": {"client_id": f"flood-{uuid.uuid4().hex[:6]}"}}}))
    junk = [b"{" + str(i).encode() + b"x" * 400 for i in range(300)]  # ~150 KB of dead letters
    publish_many(env, bad, junk)
    times = [unique_time() for _ in range(5)]
    publish(env, good, [message(good, t) for t in times])
    wait_for(lambda: all(points(env, good, t) for t in times), "the good readings stored")
    wait_for(lambda: c.stats["totals"]["rejected"] == 300, "every bad message refused")
    # at least: the session's broker may hand it another test's retained status too
    assert c.stats["totals"]["acked"] >= 305 and not c.stats["dead_letters"]["full"]
    path = tmp_path / "collector" / "dead-letters.jsonl"
    kept = read(path)
    assert path.stat().st_size <= 64 << 10 and c.stats["dead_letters"]["evicted"] > 0
    # the newest stayed, under the ids they had from the start
    assert kept[-1]["id"] == 300 and kept[-1]["payload"] == junk[-1].decode()


def test_dead_letters_full_of_refused_readings_stop_acknowledging_until_a_replay(
        services, session_run_dir, tmp_path, collectors, caplog):
    env, a, b = services, "pq-air-10", "pq-air-11"
    week = conflicted_week(env)
    data = tmp_path / "data"
    config = tmp_path / "c.toml"
    config.write_text(f'[collector]\ndata_dir = "{data}"\n')
    c = collectors(Settings.from_env(env, session_run_dir, {
        "collector": {"processors": MINE, "data_dir": str(data),
                      "dead_letters_max_bytes": 64 << 10, "max_payload_bytes": 4096},
        "sources": {"mqtt": {"client_id": f"dlfull-{uuid.uuid4().hex[:6]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 0.5}},
        "metrics": {"listen": "127.0.0.1:0", "interval_s": 1, "influx": False}}))
    # 80 messages of 3 readings in a week where the database refuses every reading: about
    # 120 KB of dead letters for a store of 64 KiB
    n = 80
    publish_many(env, a, [message(a, week + 3600 + 300 * i) for i in range(n)])
    with caplog.at_level(logging.ERROR, "quantrac.collector.dead_letters"):
        wait_for(lambda: c.stats["dead_letters"]["full"], "the dead letters to fill", 120)
    assert "is full" in caplog.text and "never dropped" in caplog.text
    wait_for(lambda: status_says_full(data), "status.json to say so")  # the worker has seen it
    acked, queued = c.stats["totals"]["acked"], c.stats["queued"]
    t = unique_time()
    publish(env, b, [message(b, t), b"{not json"])  # another station, while it is full
    wait_for(lambda: c.stats["queued"] >= queued + 2, "both messages to wait unacknowledged")

    path = data / "dead-letters.jsonl"
    refused = read(path)
    assert path.stat().st_size <= 64 << 10 and {e["class"] for e in refused} == {"sink"}
    assert len(refused) < 3 * n  # the rest waits in the spool: dropped is none (see below)
    assert c.stats["totals"]["acked"] == acked and not points(env, b, t)
    res = CliRunner().invoke(main, ["collector", "status", "--run-dir", str(session_run_dir),
                                    "--config", str(config)])
    assert "FULL: not acknowledging until replayed or discarded" in res.output, res.output
    with urlopen(c.exporter.url, timeout=WAIT_S) as answer:
        text = answer.read().decode()
    assert "quantrac_collector_dead_letters_full 1.0" in text
    assert "quantrac_collector_dead_letter_max_bytes 65536.0" in text

    # The fix (the shard with the conflicting field type dropped), then the replay.
    drop_shard(env, week)
    res = CliRunner().invoke(main, ["collector", "dead-letters", "replay", "--run-dir",
                                    str(session_run_dir), "--config", str(config)])
    assert res.exit_code == 0 and f"{len(refused)} replayed, 0 failed" in res.output, res.output
    wait_for(lambda: points(env, b, t), "the other station's message stored", 120)
    wait_for(lambda: not c.stats["dead_letters"]["full"], "room again")
    want = {(a, p): n for p in ("so2", "pm10", "co")}

    def all_stored() -> bool:
        # a retry under way while the shard was dropped may have had a few more refused:
        # they are dead letters now, and the operator replays those too
        CliRunner().invoke(main, ["collector", "dead-letters", "replay", "--run-dir",
                                  str(session_run_dir), "--config", str(config), "--class",
                                  "sink"])
        return counts(env, week, week + WEEK - 1) == want
    wait_for(all_stored, lambda: f"every refused reading stored, not "
                                 f"{counts(env, week, week + WEEK - 1)}", 120)
    assert c.stats["totals"]["acked"] >= acked + 2
    # the replayed ones made room; the bad message that waited came in after them
    (left,) = [e for e in read(path) if e["class"] != "sink"]
    assert (left["class"], left["payload"]) == ("json", "{not json")
    assert left["id"] > len(refused) and all("replayed" in e for e in read(path)
                                              if e["class"] == "sink")


def status_says_full(data_dir) -> bool:
    try:
        doc = json.loads((data_dir / "status.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(doc["stats"].get("dead_letters", {}).get("full"))


def conflicted_week(env: dict) -> int:
    """The start of an empty shard (a week of 2025) in which the field `n` is a float: the
    database refuses every reading there (the collector writes `n` as an integer) until the
    shard is dropped."""
    for _ in range(50):
        start = (1735689600 // WEEK + random.randint(1, 38)) * WEEK + MONDAY
        if not influxql(env, f"SELECT count(*) FROM /.*/ WHERE time >= {start}s AND "
                             f"time < {start + WEEK}s"):
            break
    else:
        raise AssertionError("no empty week of 2025 found")
    token = f"{env['QUANTRAC_INFLUX_WRITE_USER']}:{env['QUANTRAC_INFLUX_WRITE_PASSWORD']}"
    with InfluxDBClient(url=env["QUANTRAC_INFLUX_WRITE_URL"], token=token, org="-") as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=f"{env['QUANTRAC_INFLUX_DB']}/autogen",
            record=f"reading,station=x n=1.5 {start + 60}", write_precision=WritePrecision.S)
    return start


def drop_shard(env: dict, start: int) -> None:
    """As an operator fixes a field-type conflict: the shard holding it goes."""
    admin = env["QUANTRAC_INFLUX_ADMIN_USER"], env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]
    status, doc = influxdb.query(env["QUANTRAC_INFLUX_URL"], "SHOW SHARDS", admin)
    assert status == 200, doc
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    (ids,) = [[row[0] for row in series["values"] if row[4] <= when < row[5]]
              for series in doc["results"][0]["series"]
              if series["name"] == env["QUANTRAC_INFLUX_DB"]]
    assert len(ids) == 1, ids
    status, doc = influxdb.query(env["QUANTRAC_INFLUX_URL"], f"DROP SHARD {ids[0]}", admin)
    assert status == 200 and "error" not in doc["results"][0], doc
