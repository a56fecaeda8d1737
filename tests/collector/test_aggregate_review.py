"""The aggregate stage and the operator's review marks: flagged records leave the means; a
mark made while the collector was stopped is applied at its next start, and once only."""

from __future__ import annotations

import pytest

from collector.contracts import QC_GOOD, Batch, Reading, is_retraction
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.review import marks
from collector.review.marks import Review

H = 3600
T = 1763755200  # an hour boundary
STATION = "pq-air-01"


def hour(start: int, value: float, param: str = "so2") -> list[Reading]:
    return [Reading(STATION, "air", param, "ppb", start + 300 * (i + 1), value, 0, QC_GOOD, 30)
            for i in range(12)]


def flag(path, start: int, end: int, param: str = "so2") -> None:
    marks.append(path, marks.flag(STATION, param, start, end, "calibration gas", "lan",
                                  T + 10 * H))


def hourly(batch: Batch) -> dict[int, dict]:
    return {p.time: p.fields for p in batch.points if p.measurement == "mean"
            and p.tags["period"] == "1h" and not is_retraction(p)}


def test_a_mark_made_while_stopped_is_applied_at_the_next_start_once(tmp_path):
    path = marks.path(tmp_path)
    before = AggregateProcessor("phu-quoc", review=Review(path))
    before.process(Batch([], readings=hour(T, 50.0) + hour(T + H, 60.0)))
    assert before.start_batch(0) is None  # no marks yet
    saved = before.state()

    flag(path, T, T + H)  # the collector is stopped
    after = AggregateProcessor("phu-quoc", review=Review(path))
    after.restore(saved)
    batch = after.start_batch(0)
    assert batch is not None
    assert hourly(batch)[T + H]["n"] == 0 and "value" not in hourly(batch)[T + H]
    assert T + 2 * H not in hourly(batch)  # the next hour is not flagged
    (review,) = [p for p in batch.points if p.measurement == "review"]
    assert (review.fields["by"], review.fields["reason"], review.tags["param"]) == \
        ("lan", "calibration gas", "so2")
    assert any(is_retraction(p) and p.time == T + H for p in batch.points)
    after.batch_done()
    assert after.start_batch(0) is None  # applied: not again

    again = AggregateProcessor("phu-quoc", review=Review(path))  # restarted once more
    again.restore(after.state())
    assert again.start_batch(0) is None


def test_late_records_inside_a_flag_do_not_enter_the_mean(tmp_path):
    path = marks.path(tmp_path)
    flag(path, T, T + H)
    p = AggregateProcessor("phu-quoc", review=Review(path))
    batch = p.process(Batch([], readings=hour(T, 500.0) + hour(T + H, 60.0)))
    got = hourly(batch)
    assert (got[T + H]["n"], got[T + H]["records"]) == (0, 12)
    assert got[T + 2 * H]["value"] == pytest.approx(60.0)
    other = p.process(Batch([], readings=hour(T, 500.0, param="no2")))  # not flagged
    assert hourly(other)[T + H]["value"] == pytest.approx(500.0)


def test_a_worker_applies_the_marks_of_its_own_stations_only(tmp_path):
    path = marks.path(tmp_path)
    flag(path, T, T + H)
    mine = AggregateProcessor("phu-quoc", review=Review(path))
    mine.own(frozenset({STATION}), leader=False)
    theirs = AggregateProcessor("phu-quoc", review=Review(path))
    theirs.own(frozenset({"pq-air-02"}), leader=True)
    assert [p.measurement for p in mine.start_batch(0).points] == ["review"]
    assert theirs.start_batch(0) is None  # nothing recomputed from InfluxDB either
    assert theirs.state()["review"] == 1  # seen: not looked at again


def test_a_marks_file_damaged_while_running_keeps_the_marks_read_before(tmp_path, caplog):
    path = marks.path(tmp_path)
    flag(path, T, T + H)
    review = Review(path)
    with open(path, "a") as f:
        f.write('{"id": 2, "type": "flag", "station"\n')  # an editor's half-saved line
    assert review.refresh() == []
    assert review.invalid(STATION, "so2", T + 300) is not None  # the first flag still holds
    assert f"{path}:2: not a review mark" in review.error
    assert "the 1 marks read before still apply" in caplog.text
    with pytest.raises(marks.MarkError, match=r"review.jsonl:2: not a review mark"):
        Review(path)  # at start: the collector does not start on it


def test_a_mark_whose_batch_was_not_spooled_recomputes_its_means_again(tmp_path):
    # the first try's batch never reached the spool (a later stage raised, or the collector
    # stopped): the mark is not applied, and the next try must bring the means again, though
    # the records are already out of them in memory
    path = marks.path(tmp_path)
    p = AggregateProcessor("phu-quoc", review=Review(path))
    p.process(Batch([], readings=hour(T, 50.0) + hour(T + H, 60.0)))
    flag(path, T, T + H)
    first = p.start_batch(0)
    assert first is not None and hourly(first)[T + H]["n"] == 0
    retry = p.start_batch(1)  # no batch_done(): that batch is lost
    assert retry is not None
    assert hourly(retry)[T + H]["n"] == 0 and "value" not in hourly(retry)[T + H]
    assert any(is_retraction(x) and x.time == T + H for x in retry.points)
