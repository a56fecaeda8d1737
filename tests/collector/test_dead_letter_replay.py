"""`quantrac collector dead-letters replay`: after a fix, refused messages go through the
running collector again and refused readings into the database; each is marked replayed."""

from __future__ import annotations

import time
import uuid

import pytest
from click.testing import CliRunner
from collector_live import WAIT_S, message, points, publish, unique_time, wait_for

from collector.config import Settings
from collector.contracts import Reading
from collector.dead_letters import DeadLetters, read
from collector.pipeline import Collector
from quantrac.cli import main

pytestmark = pytest.mark.services


def cli(*args: str):
    return CliRunner().invoke(main, ["collector", "dead-letters", *args])


def test_replay_after_a_fix_stores_what_was_refused_and_marks_it(
        services, session_run_dir, tmp_path):
    env, station = services, "pq-air-16"
    data = tmp_path / "data"
    config = tmp_path / "c.toml"
    config.write_text(f'[collector]\ndata_dir = "{data}"\n')
    client_id = f"replay-{uuid.uuid4().hex[:6]}"

    def collector(max_future_s: int) -> Collector:
        c = Collector(Settings.from_env(env, session_run_dir, {
            "collector": {"data_dir": str(data)},
            "processors": {"validate": {"max_future_s": max_future_s}},
            "sources": {"mqtt": {"client_id": client_id}}}))
        c.start()
        assert c.wait_ready(WAIT_S)
        return c

    # A station whose clock runs 2 minutes fast, and a collector allowing none of it.
    ahead = int(time.time()) + 120
    strict = collector(0)
    try:
        publish(env, station, [message(station, ahead, temp=[30.5, "degC", 0, 30, 0])])
        wait_for(lambda: strict.stats["totals"]["rejected"] == 1, "the refusal")
    finally:
        strict.stop()
    # A reading the database refused earlier (say, a field-type conflict since resolved).
    t = unique_time()
    DeadLetters(data / "dead-letters.jsonl").add_readings([(Reading(
        station=station, kind="air", param="rh", unit="%", time=t, value=77.0, status=0,
        qc=1), "refused by the database: HTTP 400: field type conflict")])

    res = cli("--config", str(config), "--run-dir", str(session_run_dir))
    assert res.exit_code == 0, res.output
    assert "[future]" in res.output and "[sink]" in res.output and "replayed" not in res.output
    res = cli("replay", "--run-dir", str(session_run_dir), "--config", str(config),
              "--dry-run")
    assert res.output.count("would replay") == 2 and not points(env, station, t)

    fixed = collector(600)  # the fix: tolerate a clock a few minutes ahead
    try:
        res = cli("--run-dir", str(session_run_dir), "--config", str(config), "replay")
        assert res.exit_code == 0, res.output
        assert "#1  replayed (mqtt)" in res.output and "#2  replayed (ingest)" in res.output
        assert "2 replayed, 0 failed" in res.output
        wait_for(lambda: points(env, station, ahead), "the republished message stored")
        assert points(env, station, ahead)["temp"]["value"] == 30.5
        assert points(env, station, t)["rh"]["value"] == 77.0
        assert fixed.stats["totals"]["rejected"] == 0
    finally:
        fixed.stop()

    entries = read(data / "dead-letters.jsonl")
    assert [e["replayed"]["how"] for e in entries] == ["mqtt", "ingest"]
    res = cli("--run-dir", str(session_run_dir), "--config", str(config))
    assert res.output.count("(replayed ") == 2
    res = cli("--run-dir", str(session_run_dir), "--config", str(config), "--pending")
    assert "no pending dead letters" in res.output
    res = cli("replay", "--run-dir", str(session_run_dir), "--config", str(config))
    assert res.exit_code == 0 and "nothing to replay" in res.output


def test_replay_reports_what_it_cannot_replay_and_leaves_it_pending(services, session_run_dir,
                                                                      tmp_path):
    path = tmp_path / "collector" / "dead-letters.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"time": 1, "topic": "quantrac/v1/zz-unknown-9/data", "payload": "{}", '
                    '"reason": "x", "class": "unknown_station"}\n'
                    '{"time": 1, "topic": "elsewhere", "payload": "{}", "reason": "x", '
                    '"class": "topic"}\n'
                    'not json at all\n')
    (tmp_path / "services.env").write_text((session_run_dir / "services.env").read_text())
    res = cli("replay", "--run-dir", str(tmp_path))
    assert res.exit_code == 1
    assert "#1  FAILED (mqtt): no broker account for station 'zz-unknown-9'" in res.output
    assert "#2  FAILED (mqtt): topic 'elsewhere' is not a station topic" in res.output
    assert "#3  FAILED (-): nothing to replay" in res.output and "0 replayed, 3 failed" in \
        res.output
    assert all("replayed" not in e for e in read(path))


def test_an_operator_s_answer_is_not_replayed_as_if_it_went_through(services, session_run_dir,
                                                                   tmp_path):
    """The replay account may publish station data, status and events only: an `answer` it
    re-published would be dropped by the broker, so it is refused here with what to do, and
    stays pending."""
    from collector.contracts import Envelope, Rejected

    data = tmp_path / "data"
    config = tmp_path / "c.toml"
    config.write_text(f'[collector]\ndata_dir = "{data}"\n')
    path = data / "dead-letters.jsonl"
    env = Envelope("quantrac/v1/pq-air-01/answer",
                   b'{"v": 1, "act": "ack", "alert": "pq-air-01/offline/1763755200", '
                   b'"by": "An", "t": 1763755300}', time.time())
    DeadLetters(path).add([Rejected(env, "alert 'pq-air-01/offline/1763755200': no such alert",
                                    "answer")])
    res = cli("replay", "--run-dir", str(session_run_dir), "--config", str(config))
    assert res.exit_code == 1, res.output
    assert "#1  FAILED (mqtt): an operator's answer is not replayed" in res.output
    assert "quantrac alerts ack" in res.output
    assert read(path, pending_only=True)  # still pending
