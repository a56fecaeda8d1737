"""De-duplication by (station, boot, seq): bounded memory, commit only when durable."""

from __future__ import annotations

import json

from collector.contracts import Batch, Reading
from collector.processors.dedupe.plugin import DedupeProcessor
from collector.processors.dedupe.seen import SeenSet


def message(seq: int, boot: str = "0badc0de", station: str = "pq-air-01",
            params=("so2", "pm10")) -> list[Reading]:
    return [Reading(station=station, kind="air", param=p, unit="x", time=1763755200 + 300 * seq,
                    value=1.0, status=0, boot=boot, seq=seq) for p in params]


def run(d: DedupeProcessor, *messages: list[Reading], commit: bool = True) -> Batch:
    batch = d.process(Batch([], readings=[r for m in messages for r in m]))
    if commit:
        d.commit(batch)
    return batch


def test_a_message_stored_once_is_a_duplicate_afterwards():
    d = DedupeProcessor()
    assert len(run(d, message(1), message(2)).readings) == 4
    again = run(d, message(2), message(3))
    assert [r.seq for r in again.readings] == [3, 3]
    assert again.duplicates == [("pq-air-01", "0badc0de", 2)]


def test_copies_inside_one_batch_are_recognised_even_back_to_back():
    batch = run(DedupeProcessor(), message(1), message(1), message(2), message(1))
    assert [r.seq for r in batch.readings] == [1, 1, 2, 2]
    assert batch.duplicates == [("pq-air-01", "0badc0de", 1)] * 2


def test_a_new_boot_restarts_the_sequence_without_clashing():
    d = DedupeProcessor()
    run(d, message(0), message(1))
    assert len(run(d, message(0, boot="11111111"), message(1, boot="11111111")).readings) == 4
    assert len(run(d, message(0, station="pq-air-02")).readings) == 2


def test_an_abandoned_batch_is_not_remembered():
    d = DedupeProcessor()
    run(d, message(5), commit=False)  # the spool append failed: no commit
    assert len(run(d, message(5)).readings) == 2  # the redelivery is stored
    assert run(d, message(5)).duplicates == [("pq-air-01", "0badc0de", 5)]


def test_readings_without_a_message_identity_pass():
    r = Reading(station="pq-air-01", kind="air", param="so2", unit="x", time=1, value=1.0,
                status=0)
    d = DedupeProcessor()
    run(d, [r])
    assert run(d, [r]).readings == [r]


def test_sequences_are_kept_as_merged_ranges():
    seen = SeenSet()
    for seq in [0, 1, 2, 5, 4, 3, 9, 7]:
        seen.add(("s", "b", seq), 0)
    assert seen.state()["stations"]["s"]["b"]["r"] == [[0, 5], [7, 7], [9, 9]]
    assert ("s", "b", 4) in seen and ("s", "b", 6) not in seen and ("s", "x", 4) not in seen
    seen.add(("s", "b", 8), 0)
    assert seen.state()["stations"]["s"]["b"]["r"] == [[0, 5], [7, 9]]


def test_memory_is_bounded_by_ranges_boots_and_age():
    seen = SeenSet(boots=2, ranges=3, forget_s=100)
    for seq in range(0, 20, 2):  # ten gaps: only the 3 highest ranges stay
        seen.add(("s", "b", seq), 0)
    assert seen.state()["stations"]["s"]["b"]["r"] == [[14, 14], [16, 16], [18, 18]]
    seen.add(("s", "c", 0), 1)
    seen.add(("s", "d", 0), 2)  # a third boot: the least recently seen ("b") goes
    assert set(seen.state()["stations"]["s"]) == {"c", "d"}
    seen.add(("s", "e", 0), 500)  # c and d not seen for more than forget_s
    assert set(seen.state()["stations"]["s"]) == {"e"}


def test_the_memory_survives_a_restart_through_json():
    d = DedupeProcessor()
    run(d, message(1), message(2))
    restarted = DedupeProcessor()
    restarted.restore(json.loads(json.dumps(d.state())))
    assert run(restarted, message(2), message(3)).duplicates == [("pq-air-01", "0badc0de", 2)]


def test_unreadable_state_starts_empty(caplog):
    d = DedupeProcessor()
    d.restore({"v": 7})
    assert len(run(d, message(1)).readings) == 2 and "unreadable" in caplog.text
