"""RunningSink: batching, retries until stored, dead letters, and callbacks only after success.

The sink is the real InfluxSink; the write endpoint is a scripted HTTP peer, because a healthy
InfluxDB never answers 503 on cue.
"""

from __future__ import annotations

import threading
import time

import pytest
from collector_http_script import ScriptedWriteServer

from collector.contracts import Reading
from collector.dead_letters import DeadLetters, read
from collector.delivery.running_sink import RunningSink
from collector.metrics import Metrics
from collector.sinks.influxdb.plugin import InfluxSink


def readings(n: int, start: int = 0, param: str = "so2") -> list[Reading]:
    return [Reading(station="pq-air-01", kind="air", param=param, unit="ppb",
                    time=1763755200 + 300 * i, value=float(i), status=0)
            for i in range(start, start + n)]


@pytest.fixture
def server():
    s = ScriptedWriteServer()
    yield s
    s.close()


@pytest.fixture
def make(server, tmp_path):
    made = []

    def _make(**kw) -> tuple[RunningSink, Metrics, DeadLetters]:
        metrics = Metrics()
        dead = DeadLetters(tmp_path / "dead-letters.jsonl")
        sink = InfluxSink(server.url, "quantrac", "w", "p", timeout_s=5)
        made.append(sink)
        opts = {"retry_initial_s": 0.01, "retry_max_s": 0.05, **kw}
        return RunningSink(sink, dead, metrics, **opts), metrics, dead
    yield _make
    for s in made:
        s.close()


def test_failed_writes_are_retried_until_stored_and_only_then_completed(server, make):
    answers = iter([(503, {}, b"busy"), (503, {}, b"busy")])
    server.answer = lambda lines: next(answers, (204, {}, b""))
    running, metrics, _ = make()
    done = []
    running.add(readings(4), lambda: done.append(len(server.stored)))
    assert running.flush()
    assert done == [4]  # the callback saw all four stored
    assert len(server.requests) == 3 and running.buffered == 0
    totals = metrics.snapshot()["totals"]
    assert totals["writes"] == {"retry": 2, "ok": 1} and totals["readings_stored"] == 4


def test_refused_readings_go_to_dead_letters_and_the_rest_is_stored(server, make):
    server.answer = lambda lines: ((400, {}, b'{"error":"field type conflict"}')
                                   if any("param=no2" in x for x in lines) else (204, {}, b""))
    running, metrics, dead = make()
    done = []
    running.add(readings(3) + readings(1, 3, param="no2"), lambda: done.append(True))
    assert running.flush() and done == [True]
    assert len(server.stored) == 3
    (letter,) = read(dead.path)
    assert letter["reading"]["param"] == "no2" and letter["class"] == "sink"
    assert "field type conflict" in letter["reason"]
    snap = metrics.snapshot()
    assert snap["totals"]["rejected_by_reason"] == {"sink": 1}
    assert snap["stations"]["pq-air-01"]["readings_stored"] == 3


def test_batches_are_cut_at_batch_size_and_each_group_completes_when_written(server, make):
    running, _, _ = make(batch_size=3)
    done = []
    for g in range(3):
        running.add(readings(2, 2 * g), lambda g=g: done.append((g, len(server.stored))))
    assert running.due()  # 6 buffered >= 3
    assert running.flush()
    assert [len(lines) for _, _, lines in server.requests] == [3, 3]
    assert done == [(0, 3), (1, 6), (2, 6)]


def test_a_small_group_waits_for_the_flush_interval(make):
    running, _, _ = make(batch_size=100, flush_interval_s=0.2)
    running.add(readings(1), lambda: None)
    assert not running.due()
    deadline = time.monotonic() + 30
    while not running.due():
        assert time.monotonic() < deadline, "never became due"
        time.sleep(0.01)


def test_stopping_abandons_unwritten_readings_without_completing_them(server, make):
    server.answer = lambda lines: (503, {}, b"down")
    running, metrics, dead = make(retry_initial_s=0.05, retry_max_s=0.05)
    done = []
    running.add(readings(2), lambda: done.append(True))
    running.give_up_after(0.3)
    assert running.flush() is False
    assert done == [] and running.buffered == 2 and server.stored == []
    assert metrics.snapshot()["sink"]["state"] == "retry"
    assert read(dead.path) == []


def test_an_empty_group_completes_at_once(make):
    running, _, _ = make()
    done = []
    running.add([], lambda: done.append(True))
    assert done == [True] and running.buffered == 0


def test_refused_readings_the_full_dead_letters_cannot_take_are_kept_not_dropped(
        server, tmp_path):
    """The store is full of earlier refusals: the new ones stay here (the spool keeps them
    too), the sink state says why, and they land in the dead letters once there is room."""
    from click.testing import CliRunner

    from collector.dead_letter_store import DeadLettersFull, DeadLetterStore
    from quantrac.cli import main

    path = tmp_path / "collector" / "dead-letters.jsonl"
    dead = DeadLetterStore(path, 64 << 10)
    sink = InfluxSink(server.url, "quantrac", "w", "p", timeout_s=5)
    try:
        with pytest.raises(DeadLettersFull):
            for i in range(1000):
                dead.add_readings([(readings(1, i)[0], "refused earlier")])
        earlier = len(read(path))
        server.answer = lambda lines: (400, {}, b'{"error":"field type conflict"}')
        metrics = Metrics()
        running = RunningSink(sink, dead, metrics, retry_initial_s=0.01, retry_max_s=0.05)
        done = []
        running.add(readings(3, 5000, param="no2"), lambda: done.append(True))
        flushed = []
        worker = threading.Thread(target=lambda: flushed.append(running.flush()))
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while metrics.snapshot()["sink"]["state"] != "operator":
                assert time.monotonic() < deadline, "the sink never said it waits"
                time.sleep(0.01)
            assert "3 refused readings kept until there is room" in \
                metrics.snapshot()["sink"]["last_error"]
            assert done == [] and running.buffered == 3 and len(read(path)) == earlier
            res = CliRunner().invoke(main, ["collector", "dead-letters", "discard", "--run-dir",
                                            str(tmp_path), "--class", "sink", "--yes"])
            assert res.exit_code == 0, res.output
        finally:
            running.give_up_after(30)
            worker.join()
        assert flushed == [True] and done == [True] and running.buffered == 0
        assert [e["reading"]["param"] for e in read(path)] == ["no2"] * 3
    finally:
        sink.close()
        dead.close()
