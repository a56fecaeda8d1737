"""Exactly-once storage through the failures a province will see, on a private stack (its own
Mosquitto and InfluxDB in a tmp run folder, so stopping them disturbs no other test).

In each test stations stream data at QoS 1 while something breaks: InfluxDB stopped for
QUANTRAC_OUTAGE_S seconds (default 300: the five minutes issue 5 asks for; a shorter value
only for a quick local run), the broker restarted, the collector killed with SIGKILL and
restarted.
Afterwards every (station, param) has exactly as many points as messages the broker
acknowledged: nothing lost, nothing doubled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from collector_live import WAIT_S, assert_exactly_once, counts, wait_for
from station_stream import StationStream

from collector import services as svc
from collector.config import Settings
from collector.pipeline import Collector
from quantrac.bench.common import stop_processes

pytestmark = [pytest.mark.services, pytest.mark.slow]
OUTAGE_S = float(os.environ.get("QUANTRAC_OUTAGE_S", "300"))
STATIONS = ["pq-air-10", "pq-sea-01"]
CLI = [sys.executable, "-c", "from quantrac.cli import main; main()"]


@pytest.fixture
def stack(tmp_path):
    """A private Mosquitto + InfluxDB (+ proxy); (env, run_dir). Stopped at the end."""
    run_dir = tmp_path / "run"
    env = svc.up(run_dir, bench=True)  # its stations publish through the bench account
    try:
        yield env, run_dir
    finally:
        svc.down(run_dir)


def pid_of(run_dir: Path, name: str) -> int:
    (row,) = [r for r in svc.status(run_dir) if r["name"] == name]
    assert row["running"], f"{name} is not running"
    return row["pid"]


def options(client_id: str) -> dict:
    return {"sources": {"mqtt": {"client_id": client_id, "reconnect_min_s": 0.2,
                                 "reconnect_max_s": 1.0}},
            "sinks": {"influxdb": {"retry_initial_s": 0.2, "retry_max_s": 2.0,
                                   "timeout_s": 3.0, "flush_interval_s": 0.1}}}


def test_influxdb_down_for_a_while_loses_and_doubles_nothing(stack, tmp_path):
    env, run_dir = stack
    c = Collector(Settings.from_env(env, tmp_path, options(f"t-{uuid.uuid4().hex[:6]}")))
    stream = StationStream(env, STATIONS, t0=1767225600)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        stream.start()
        wait_for(lambda: c.stats["totals"]["readings_stored"] > 20, "data flowing")
        os.kill(pid_of(run_dir, "influxdb"), signal.SIGTERM)  # started by svc.up above
        wait_for(lambda: c.stats["sink"]["state"] == "retry", "the collector to notice")
        acked = c.stats["totals"]["acked"]
        time.sleep(OUTAGE_S)
        during = c.stats
        assert during["totals"]["acked"] > acked + 10, "acknowledging stopped during the outage"
        assert during["spool"]["depth"] > 10 and during["sink"]["state"] == "retry"
        svc.up(run_dir)  # InfluxDB back on its port, with its data
        wait_for(lambda: c.stats["sink"]["state"] == "ok", "writes to succeed again", 60)
        time.sleep(1)
        stream.stop()
        assert_exactly_once(env, stream)
        wait_for(lambda: c.stats["spool"]["depth"] == 0, "the spool to empty")
        assert c.stats["totals"]["rejected"] == 0
    finally:
        stream.stop()
        c.stop()


def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(stack, tmp_path):
    env, run_dir = stack
    c = Collector(Settings.from_env(env, tmp_path, options(f"t-{uuid.uuid4().hex[:6]}")))
    stream = StationStream(env, STATIONS, t0=1767225600)
    try:
        c.start()
        assert c.wait_ready(WAIT_S)
        stream.start()
        wait_for(lambda: c.stats["totals"]["readings_stored"] > 20, "data flowing")
        os.kill(pid_of(run_dir, "mosquitto"), signal.SIGTERM)  # saves its persistence db
        wait_for(lambda: not c.stats["source"]["connected"], "the collector to notice")
        time.sleep(2)  # stations keep measuring; paho queues their messages
        svc.up(run_dir)
        wait_for(lambda: c.stats["source"]["connects"] >= 2, "the collector to reconnect")
        wait_for(lambda: stream.sent() > 200, "more data after the restart")
        stream.stop()
        assert_exactly_once(env, stream)
        assert c.stats["totals"]["rejected"] == 0
    finally:
        stream.stop()
        c.stop()


def test_a_collector_killed_with_sigkill_loses_and_doubles_nothing(stack, tmp_path):
    """The collector runs as `quantrac collector run`; InfluxDB is paused while it is killed,
    so its spool holds acknowledged readings the database has not seen yet."""
    env, run_dir = stack
    config = tmp_path / "collector.toml"
    config.write_text(f'[collector]\ndata_dir = "{tmp_path / "data"}"\nsummary_interval_s = 1.0\n'
                      f'[sources.mqtt]\nclient_id = "t-{uuid.uuid4().hex[:6]}"\n'
                      "reconnect_min_s = 0.2\nreconnect_max_s = 1.0\n"
                      "[sinks.influxdb]\nretry_initial_s = 0.2\nretry_max_s = 1.0\n"
                      "timeout_s = 2.0\nflush_interval_s = 0.1\n")
    logs = [tmp_path / "run-1.log", tmp_path / "run-2.log"]

    def run(log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            proc = subprocess.Popen([*CLI, "collector", "run", "--run-dir", str(run_dir),
                                     "--config", str(config)], stdout=out,
                                    stderr=subprocess.STDOUT)
        wait_for(lambda: "connected to" in log.read_text() or proc.poll() is not None,
                 "the collector to connect")
        assert proc.poll() is None, log.read_text()
        return proc

    stream = StationStream(env, STATIONS, t0=1767225600)
    influx = pid_of(run_dir, "influxdb")
    procs = []
    try:
        procs.append(run(logs[0]))
        stream.start()
        wait_for(lambda: counts(env, stream.t0, stream.t0 + 10**6), "data in the database")
        os.kill(influx, signal.SIGSTOP)  # writes now hang and time out; the spool fills
        wait_for(lambda: "keeping" in logs[0].read_text(), "a failed write")
        time.sleep(2)
        procs[0].kill()  # SIGKILL: no cleanup of any kind
        procs[0].wait()
        os.kill(influx, signal.SIGCONT)
        procs.append(run(logs[1]))
        wait_for(lambda: stream.sent() > 300, "more data after the restart")
        stream.stop()
        assert_exactly_once(env, stream)
        assert "from an earlier run not yet in the database" in logs[1].read_text()
    finally:
        os.kill(influx, signal.SIGCONT)
        stream.stop()
        stop_processes(procs, WAIT_S)
