"""`quantrac collector run --workers N`: N processes, each owning a slice of the stations with
its own broker session, spool and state, against the session's real Mosquitto and InfluxDB.
Every reading of every station is stored once; a worker killed with SIGKILL mid-stream is
started again, its session resumes, and nothing is lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from collector_live import (
    WAIT_S,
    assert_exactly_once,
    counts,
    free_window,
    influxql,
    wait_for,
)
from station_stream import StationStream

import boards
from collector.workers.slicing import owner
from quantrac.bench.common import stop_processes

pytestmark = [pytest.mark.services]
CLI = [sys.executable, "-c", "from quantrac.cli import main; main()"]


def per_worker(count: int, each: int = 2) -> list[str]:
    """`each` registry stations owned by every one of `count` workers."""
    ids = boards.registry("phu-quoc").ids()
    return [st for w in range(count) for st in [s for s in ids if owner(s, count) == w][:each]]


def config(tmp_path: Path) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(f'[collector]\ndata_dir = "{tmp_path / "data"}"\nsummary_interval_s = 1.0\n'
                    f'[sources.mqtt]\nclient_id = "t-{uuid.uuid4().hex[:6]}"\n'
                    "reconnect_min_s = 0.2\nreconnect_max_s = 1.0\n"
                    "[sinks.influxdb]\nretry_initial_s = 0.2\nretry_max_s = 1.0\n"
                    "timeout_s = 3.0\nflush_interval_s = 0.1\n[metrics]\ninterval_s = 1.0\n")
    return path


def start(run_dir: Path, cfg: Path, log: Path, workers: str) -> subprocess.Popen:
    with open(log, "wb") as out:
        proc = subprocess.Popen([*CLI, "collector", "run", "--run-dir", str(run_dir),
                                 "--config", str(cfg), "--workers", workers],
                                stdout=out, stderr=subprocess.STDOUT)
    return proc


def connected(log: Path, n: int, proc: subprocess.Popen) -> None:
    wait_for(lambda: log.read_text().count("connected to") >= n or proc.poll() is not None,
             lambda: f"{n} sessions: {log.read_text()[-3000:]}")
    assert proc.poll() is None, log.read_text()


def status(tmp_path: Path) -> dict:
    try:
        return json.loads((tmp_path / "data" / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def test_two_workers_store_every_reading_of_every_station_once(services, session_run_dir,
                                                               tmp_path):
    env, stations = services, per_worker(2)
    log = tmp_path / "run.log"
    began = int(time.time())
    proc = start(session_run_dir, config(tmp_path), log, "2")
    stream = StationStream(env, stations, t0=free_window(env, 300 * 400), interval_s=0.02)
    try:
        connected(log, 2, proc)
        stream.start()
        wait_for(lambda: stream.sent() > 400, "the stream to run")
        stream.stop()
        assert_exactly_once(env, stream)
        # each worker saw its own stations only, through its own data folder
        for w in range(2):
            doc = json.loads((tmp_path / "data" / f"worker-{w}" / "status.json").read_text())
            # (any station: the session's broker may also hold another test's retained status)
            assert {s for s in doc["stats"]["stations"] if owner(s, 2) != w} == set(), w
            assert (tmp_path / "data" / f"worker-{w}" / "spool").is_dir()
        wait_for(lambda: set(status(tmp_path).get("stats", {}).get("stations", {}))
                 >= set(stations), lambda: f"one status for both: {status(tmp_path)}")
        doc = status(tmp_path)
        assert [w["index"] for w in doc["workers"]] == [0, 1]
        assert doc["stats"]["totals"]["duplicates"] == 0
        # each worker's own totals in the database: a series each, not one they overwrite in turn
        totals = ("SELECT last(\"messages\") FROM \"collector\" WHERE \"scope\" = 'total' "
                  f"AND time >= {began}s GROUP BY \"worker\"")
        wait_for(lambda: len(influxql(env, totals)) == 2,
                 lambda: f"a total per worker: {influxql(env, totals)}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT_S) == 0, log.read_text()[-3000:]
        assert log.read_text().count("collector stopped") == 2
    finally:
        stream.stop()
        stop_processes([proc], WAIT_S)


def test_a_worker_killed_with_sigkill_is_restarted_and_loses_nothing(services, session_run_dir,
                                                                    tmp_path):
    env, stations = services, per_worker(2)
    log = tmp_path / "run.log"
    proc = start(session_run_dir, config(tmp_path), log, "2")
    stream = StationStream(env, stations, t0=free_window(env, 300 * 600), interval_s=0.02)
    try:
        connected(log, 2, proc)
        stream.start()
        wait_for(lambda: counts(env, stream.t0, stream.t0 + 10**6), "data in the database")
        wait_for(lambda: all(w["pid"] for w in status(tmp_path).get("workers", [{}])),
                 "the workers' pids")
        victim = status(tmp_path)["workers"][1]["pid"]
        os.kill(victim, signal.SIGKILL)  # no cleanup of any kind, mid-stream
        wait_for(lambda: "worker 1 ended (exit status -9); restarting" in log.read_text(),
                 "the supervisor to notice")
        connected(log, 3, proc)
        wait_for(lambda: (w := status(tmp_path)["workers"][1])["restarts"] == 1
                 and w["running"] and w["pid"] != victim, "worker 1 running again")
        assert "(session resumed)" in log.read_text()
        sent = stream.sent()
        wait_for(lambda: stream.sent() > sent + 200, "more data after the restart")
        stream.stop()
        assert_exactly_once(env, stream)
    finally:
        stream.stop()
        stop_processes([proc], WAIT_S)


def test_a_worker_judges_only_its_own_stations_silence():
    """Every worker knows the whole registry; offline alerts for a station it does not own
    would be raised once per worker, for a station another worker hears from."""
    from collector.processors.alerts.plugin import AlertsProcessor

    mine = frozenset(per_worker(2, each=3)[:3])
    p = AlertsProcessor("phu-quoc")
    p.own(mine, leader=False)
    later = p.started + 10 * 86400  # every station silent for ten days
    p.tick(later, {})  # pending
    opened = {pt.station for pt in p.tick(later + 3600, {}) if pt.measurement == "alert"}
    assert opened == set(mine)


def test_only_the_leader_hears_answers_to_the_collector_s_own_alerts():
    """The leader alone judges the collector-wide rules (alert ids collector/<rule>/<t>): an
    acknowledgement of one is published on quantrac/v1/collector/answer, which must reach it
    (a single collector's `+` does); no other worker takes it, or it would refuse it."""
    from collector.alerting.rules import COLLECTOR
    from collector.sources.mqtt.options import DEFAULT_TOPICS
    from collector.workers.slicing import slice_of, topics

    leader, other = (topics(DEFAULT_TOPICS, slice_of("phu-quoc", i, 2)) for i in (0, 1))
    assert f"quantrac/v1/{COLLECTOR}/answer" in leader
    assert not [t for t in other if f"/{COLLECTOR}/" in t]
    station = sorted(slice_of("phu-quoc", 1, 2).stations)[0]
    assert f"quantrac/v1/{station}/answer" in other
