"""The bounded dead-letter store on its own file: what it drops to make room (never a refused
reading), ids that never change, a full store that refuses instead of dropping, and the room
a replay or discard gives back. The same store under a running collector, against the real
broker and database, is tested in test_dead_letter_limits.py."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from collector.contracts import Envelope, Reading, Rejected
from collector.dead_letter_store import DeadLettersFull, DeadLettersLocked, DeadLetterStore
from collector.dead_letters import DeadLetters, entry, mark_replayed, read
from quantrac.cli import main

CAP = 64 << 10


def bad(i: int, size: int = 200) -> Rejected:
    env = Envelope(f"quantrac/v1/pq-air-0{1 + i % 9}/data", b"{" + b"x" * size, 1763755200.0 + i)
    return Rejected(env, "payload is not JSON: Expecting property name", "json")


def refused(i: int) -> tuple[Reading, str]:
    return (Reading(station="pq-air-02", kind="air", param="so2", unit="ug/Nm3",
                    time=1763755200 + 300 * i, value=float(i), status=0, qc=1, n=30),
            "refused by the database: HTTP 400: field type conflict")


@pytest.fixture
def store(tmp_path):
    made = []

    def open_(cap: int = CAP, **kw) -> DeadLetterStore:
        s = DeadLetterStore(tmp_path / "collector" / "dead-letters.jsonl", cap, **kw)
        made.append(s)
        return s
    yield open_
    for s in made:
        s.close()


def test_refused_input_makes_room_oldest_first_and_every_id_stays(store, tmp_path):
    path = tmp_path / "collector" / "dead-letters.jsonl"
    old = DeadLetters(path)  # a file as the collector wrote it before the cap
    old.add([bad(0)])
    old.add_readings([refused(0)])
    old.add([bad(i) for i in range(1, 5)])
    mark_replayed(path, [{"id": 3, "digest": read(path)[2]["digest"], "time": 1, "how": "mqtt",
                          "result": "re-published"}])
    before = {e["id"]: e for e in read(path)}

    s = store()
    n = len(before)  # the id of the newest entry
    while s.stats()["evicted"] == 0:
        n += 1
        s.add([bad(n)])
    assert path.stat().st_size <= CAP and s.stats()["bytes"] == path.stat().st_size
    after = {e["id"]: e for e in read(path)}
    # the refused reading stays, under its id and digest; the replayed entry and the oldest
    # refused input went first; the newest entries keep the ids they were given
    assert after[2]["class"] == "sink" and after[2]["digest"] == before[2]["digest"]
    assert 1 not in after and 3 not in after
    assert max(after) == n and after[n]["payload"].startswith("{xxx")
    assert sorted(after) == [2, *range(min(i for i in after if i > 2), n + 1)]
    assert '{"gap": ' in path.read_text()
    s.add([bad(n + 1)])
    assert read(path)[-1]["id"] == n + 1  # later entries count the dropped ones too


def test_a_store_full_of_refused_readings_refuses_more_until_a_discard(store, tmp_path):
    path = tmp_path / "collector" / "dead-letters.jsonl"
    s = store()
    kept = 0
    with pytest.raises(DeadLettersFull) as err:
        while True:
            s.add_readings([refused(kept)])
            kept += 1
    assert "dead_letters_max_bytes" in str(err.value) and "replay or discard" in str(err.value)
    assert s.full and not s.room()
    size = path.stat().st_size
    assert size <= CAP
    with pytest.raises(DeadLettersFull):  # refused input finds no room either
        s.add([bad(1)])
    assert path.stat().st_size == size
    entries = read(path)
    assert len(entries) == kept and {e["class"] for e in entries} == {"sink"}

    res = CliRunner().invoke(main, ["collector", "dead-letters", "discard", "--run-dir",
                                    str(tmp_path), "--id", "1", "--id", "2", "--id", "3"],
                             input="y\n")
    assert res.exit_code == 0 and "3 readings the database refused" in res.output
    assert "3 discarded" in res.output
    listed = CliRunner().invoke(main, ["collector", "dead-letters", "--run-dir", str(tmp_path),
                                       "--limit", str(kept)]).output.splitlines()
    assert listed[0].startswith("#1 ") and "[sink]" in listed[0] and "(discarded " in listed[0]
    assert "(discarded " not in listed[3]
    assert s.room() and not s.full
    s.add([bad(2)])
    entries = read(path)
    assert [e["id"] for e in entries] == list(range(4, kept + 2))
    assert entries[-1]["class"] == "json" and path.stat().st_size <= CAP


def test_a_file_over_the_cap_at_start_is_compacted_or_starts_full(store, tmp_path):
    path = tmp_path / "collector" / "dead-letters.jsonl"
    old = DeadLetters(path)
    old.add_readings([refused(i) for i in range(300)])  # about 150 KB of refused readings
    s = store()
    assert s.full and s.stats()["evicted"] == 0 and len(read(path)) == 300


def test_a_line_cut_short_by_a_crash_does_not_swallow_the_next_entry(store, tmp_path):
    path = tmp_path / "collector" / "dead-letters.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text('{"time": 1, "topic": "quantrac/v1/pq-air-01/data", "payl')
    store().add([bad(1)])
    first, second = read(path)
    assert first["class"] == "unreadable" and (second["id"], second["class"]) == (2, "json")


def test_two_collectors_cannot_share_one_dead_letter_file(store):
    store()
    with pytest.raises(DeadLettersLocked, match="in use by another collector"):
        store()


def test_an_oversized_payload_is_kept_as_its_digest_and_first_bytes():
    import hashlib

    payload = "é".encode() * 3000  # 6000 bytes; the 1024-byte head ends inside no character
    e = entry(Rejected(Envelope("quantrac/v1/pq-air-01/data", payload, 1.0), "too big",
                       "size"), max_payload=4096)
    assert e["payload_bytes"] == 6000 and "payload" not in e and "payload_b64" not in e
    assert e["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert e["payload_head"] == "é" * 512


def test_a_line_stays_within_twice_its_payload_and_a_long_reason_is_cut():
    payload = b"\x01" * 1000  # valid UTF-8 that JSON would write as \u0001 (6 bytes each)
    reason = "additional properties " + "k" * 5000
    e = entry(Rejected(Envelope("quantrac/v1/pq-air-01/data", payload, 1.0), reason, "schema"))
    assert base64.b64decode(e["payload_b64"]) == payload
    assert len(e["reason"]) <= 1001 and len(json.dumps(e)) < 2 * len(payload) + 1200
