"""`quantrac collector run` as an operator starts it, and `quantrac collector dead-letters`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner
from collector_live import WAIT_S, message, points, publish, unique_time, wait_for
from test_collector_config import ENV

from collector.contracts import Envelope, Rejected
from collector.dead_letters import DeadLetters
from quantrac.cli import main

CLI = [sys.executable, "-c", "from quantrac.cli import main; main()"]


@pytest.mark.services
def test_run_logs_its_config_stores_data_and_stops_on_sigterm(services, session_run_dir,
                                                              tmp_path):
    env, station = services, "pq-sea-01"
    options = tmp_path / "collector.toml"
    options.write_text(f'[collector]\ndead_letters = "{tmp_path / "dl.jsonl"}"\n'
                       f"summary_interval_s = 1.0\n"
                       f'[sources.mqtt]\nclient_id = "test-cli-{uuid.uuid4().hex[:8]}"\n')
    out = tmp_path / "out.log"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([*CLI, "collector", "run", "--run-dir", str(session_run_dir),
                                 "--config", str(options)], stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "connected to" in out.read_text(), "the collector to connect")
        t = unique_time()
        publish(env, station, [message(station, t, temp=[29.5, "degC", 0, 30, 0])])
        wait_for(lambda: points(env, station, t), "the reading in InfluxDB")
        wait_for(lambda: "summary:" in out.read_text(), "a periodic summary")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    assert "effective config" in text and "QUANTRAC_MQTT_COLLECTOR_PASSWORD = ***" in text
    assert env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"] not in text
    assert env["QUANTRAC_INFLUX_WRITE_PASSWORD"] not in text
    assert "received SIGTERM" in text and "final:" in text and "1 readings stored" in text


def test_run_without_services_says_what_is_missing(tmp_path):
    res = CliRunner().invoke(main, ["collector", "run", "--run-dir", str(tmp_path)])
    assert res.exit_code == 1 and "services.env" in res.output


def test_run_refuses_an_incomplete_services_env(tmp_path):
    (tmp_path / "services.env").write_text("QUANTRAC_MQTT_HOST=127.0.0.1\n")
    res = CliRunner().invoke(main, ["collector", "run", "--run-dir", str(tmp_path)])
    assert res.exit_code == 1 and "services.env: QUANTRAC_MQTT_PORT is missing" in res.output


def test_run_refuses_a_bad_options_file(tmp_path):
    (tmp_path / "services.env").write_text("".join(f"{k}={v}\n" for k, v in ENV.items()))
    (tmp_path / "c.toml").write_text("[sinks.influxdb]\nbatch_size = -1\n")
    res = CliRunner().invoke(main, ["collector", "run", "--run-dir", str(tmp_path),
                                    "--config", str(tmp_path / "c.toml")])
    assert res.exit_code == 1
    assert "[sinks.influxdb] batch_size = -1: must be between 1 and 1000000" in res.output


def test_run_refuses_a_spool_another_collector_holds(tmp_path):
    from collector.spool import Spool

    (tmp_path / "services.env").write_text("".join(f"{k}={v}\n" for k, v in ENV.items()))
    held = Spool(tmp_path / "collector" / "spool")
    try:
        res = CliRunner().invoke(main, ["collector", "run", "--run-dir", str(tmp_path)])
    finally:
        held.close()
    assert res.exit_code == 1
    assert "is in use by another collector; give each collector its own [collector] data_dir" \
        in res.output


def test_dead_letters_lists_time_topic_and_reason(tmp_path):
    path = tmp_path / "collector" / "dead-letters.jsonl"
    dead = DeadLetters(path)
    for i, reason in enumerate(["payload is not JSON: …", "st: 'pq-air-99' is not a station"]):
        env = Envelope(f"quantrac/v1/pq-air-0{i + 1}/data", b"{", 1763755200.0 + i)
        dead.add([Rejected(env, reason, "json")])
    res = CliRunner().invoke(main, ["collector", "dead-letters", "--run-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == [
        "#1  2025-11-21 20:00:00Z  quantrac/v1/pq-air-01/data  [json] payload is not JSON: …",
        "#2  2025-11-21 20:00:01Z  quantrac/v1/pq-air-02/data  [json] st: 'pq-air-99' is not a "
        "station"]
    res = CliRunner().invoke(main, ["collector", "dead-letters", "--run-dir", str(tmp_path),
                                    "--limit", "1"])
    assert len(res.output.splitlines()) == 1 and "pq-air-02" in res.output
    assert json.loads(path.read_text().splitlines()[0])["payload"] == "{"


def test_dead_letters_of_every_worker_are_one_list_and_an_id_names_its_worker(tmp_path):
    # `collector run --workers 2` keeps a dead-letter file per worker (worker-<i>/)
    data = tmp_path / "collector"
    for i, worker in enumerate((1, 0)):
        env = Envelope(f"quantrac/v1/pq-air-0{i + 1}/data", b"{", 1763755200.0 + i)
        DeadLetters(data / f"worker-{worker}" / "dead-letters.jsonl").add(
            [Rejected(env, "payload is not JSON", "json")])
    cli = ["collector", "dead-letters", "--run-dir", str(tmp_path)]
    res = CliRunner().invoke(main, cli)
    assert res.exit_code == 0, res.output
    assert [line.split()[0] for line in res.output.splitlines()] == ["w1#1", "w0#1"]  # by time
    res = CliRunner().invoke(main, [*cli, "discard", "--id", "1", "--yes"])
    assert res.exit_code == 2 and "w0#1, w1#1" in res.output  # ambiguous: nothing discarded
    res = CliRunner().invoke(main, [*cli, "discard", "--id", "w1#1", "--yes"])
    assert res.exit_code == 0 and "1 discarded" in res.output, res.output
    res = CliRunner().invoke(main, [*cli, "--pending"])
    assert [line.split()[0] for line in res.output.splitlines()] == ["w0#1"]
    res = CliRunner().invoke(main, [*cli, "discard", "--class", "json", "--yes"])
    assert "1 discarded" in res.output
    assert "no pending dead letters" in CliRunner().invoke(main, [*cli, "--pending"]).output


def test_an_id_both_the_single_collector_and_a_worker_hold_is_ambiguous(tmp_path):
    # the collector ran alone, then with --workers: its file and worker 0's both have #1
    data = tmp_path / "collector"
    for i, path in enumerate((data / "dead-letters.jsonl",
                              data / "worker-0" / "dead-letters.jsonl")):
        env = Envelope(f"quantrac/v1/pq-air-0{i + 1}/data", b"{", 1763755200.0 + i)
        DeadLetters(path).add([Rejected(env, "payload is not JSON", "json")])
    cli = ["collector", "dead-letters", "--run-dir", str(tmp_path)]
    res = CliRunner().invoke(main, [*cli, "discard", "--id", "1", "--yes"])
    assert res.exit_code == 2 and "#1, w0#1" in res.output, res.output  # nothing discarded
    res = CliRunner().invoke(main, [*cli, "--pending"])
    assert [line.split()[0] for line in res.output.splitlines()] == ["#1", "w0#1"]
    res = CliRunner().invoke(main, [*cli, "discard", "--id", "#1", "--yes"])  # the lone one's
    assert res.exit_code == 0 and "1 discarded" in res.output, res.output
    res = CliRunner().invoke(main, [*cli, "--pending"])
    assert [line.split()[:3] for line in res.output.splitlines()] == [
        ["w0#1", "2025-11-21", "20:00:01Z"]]


def test_dead_letters_when_there_are_none(tmp_path):
    res = CliRunner().invoke(main, ["collector", "dead-letters", "--run-dir", str(tmp_path)])
    assert res.exit_code == 0 and "no dead letters" in res.output

