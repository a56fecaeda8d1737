"""The outbox the e-gov and camera modules deliver through: durable across a reopen (and a torn
write), in order per destination, a key queued once, back-off until delivered, refusals kept
with the receiver's reason, and one destination's outage never holding up another."""

from __future__ import annotations

import json
import threading

import pytest
from collector_live import wait_for

from collector.delivery.outbox import (
    Outbox,
    OutboxError,
    OutboxFull,
    OutboxItem,
    OutboxWorker,
    Outcome,
)


def items(dest: str, *keys: str) -> list[OutboxItem]:
    return [OutboxItem(dest, k, {"n": k}, {"path": f"{k}.txt"}) for k in keys]


def test_items_survive_a_reopen_in_order_and_a_key_is_queued_once(tmp_path):
    box = Outbox(tmp_path, ("ftp", "api"))
    assert [i.key for i in box.add(items("ftp", "a", "b", "c") + items("api", "x"))] == \
        ["a", "b", "c", "x"]
    assert box.add(items("ftp", "b", "d", "d")) == items("ftp", "d")  # b known, d once
    item, ref = box.next("ftp")
    assert (item.key, item.body, item.meta) == ("a", {"n": "a"}, {"path": "a.txt"})
    box.commit("ftp", ref)
    with pytest.raises(OutboxError, match="in use by another collector"):
        Outbox(tmp_path, ("ftp", "api"))
    box.close()

    again = Outbox(tmp_path, ("ftp", "api"))
    assert again.stats()["pending"] == {"ftp": 3, "api": 1}
    assert again.add(items("ftp", "a")) == []  # delivered, and still known
    got = []
    while (nxt := again.next("ftp")) is not None:
        got.append(nxt[0].key)
        again.commit("ftp", nxt[1])
    assert got == ["b", "c", "d"]
    assert again.next("api")[0].key == "x"
    again.close()


def test_a_torn_write_is_cut_off_and_the_whole_items_stay(tmp_path):
    box = Outbox(tmp_path, ("ftp",))
    box.add(items("ftp", "a", "b"))
    box.close()
    (seg,) = tmp_path.glob("*.log")
    with open(seg, "ab") as f:
        f.write(b"\x50\x00\x00\x00\x01\x00\x00\x00garbage")  # a crash mid-append
    again = Outbox(tmp_path, ("ftp",))
    assert again.pending("ftp") == 2
    assert len(list((tmp_path / "corrupt").iterdir())) == 1
    again.add(items("ftp", "c"))
    keys = []
    while (nxt := again.next("ftp")) is not None:
        keys.append(nxt[0].key)
        again.commit("ftp", nxt[1])
    assert keys == ["a", "b", "c"]
    again.close()


def test_a_full_outbox_refuses_new_items_by_name(tmp_path):
    box = Outbox(tmp_path, ("ftp",), max_bytes=300)
    box.add(items("ftp", "a"))
    with pytest.raises(OutboxFull, match="outbox .* full"):
        box.add([OutboxItem("ftp", "big", "x" * 400)])
    with pytest.raises(ValueError, match="no destination 'mail'"):
        box.add(items("mail", "z"))
    box.close()


class Scripted:
    """A deliverer that answers from a script per key (then delivers), recording attempts."""

    def __init__(self, script: dict[str, list[Outcome]] | None = None) -> None:
        self.script = script or {}
        self.attempts: list[str] = []
        self.delivered: list[str] = []
        self.lock = threading.Lock()

    def deliver(self, item: OutboxItem) -> Outcome:
        with self.lock:
            self.attempts.append(item.key)
            queue = self.script.get(item.key, [])
            out = queue.pop(0) if queue else Outcome.ok()
            if out.delivered:
                self.delivered.append(item.key)
            return out

    def close(self) -> None:
        pass


def test_the_worker_retries_in_order_and_dead_letters_a_refusal_with_its_reason(tmp_path):
    box = Outbox(tmp_path, ("api", "ftp"))
    api = Scripted({"b": [Outcome.retry("HTTP 500: busy"), Outcome.retry("timed out")],
                    "c": [Outcome.refuse("HTTP 422: unknown station code")]})
    ftp = Scripted({"f1": [Outcome.retry("connection refused")] * 1000})  # down throughout
    workers = [OutboxWorker(box, "api", api, retry_initial_s=0.01, retry_max_s=0.05),
               OutboxWorker(box, "ftp", ftp, retry_initial_s=0.01, retry_max_s=0.05)]
    for w in workers:
        w.start()
    try:
        box.add(items("ftp", "f1", "f2") + items("api", "a", "b", "c", "d"))
        wait_for(lambda: api.delivered == ["a", "b", "d"], lambda: f"api got {api.delivered}")
        assert api.attempts == ["a", "b", "b", "b", "c", "d"]  # b kept its place in line
        wait_for(lambda: box.pending("api") == 0, "the api cursor")
        assert ftp.delivered == [] and box.pending("ftp") == 2  # its outage held only itself
        assert workers[1].stats()["state"] == "retrying"
        assert "connection refused" in workers[1].stats()["last_error"]
    finally:
        for w in workers:
            w.stop()
    (dead,) = [json.loads(line) for line in (tmp_path / "dead-letters.jsonl").open()]
    assert (dead["dest"], dead["key"], dead["body"], dead["reason"]) == \
        ("api", "c", {"n": "c"}, "HTTP 422: unknown station code")
    assert workers[0].stats()["delivered"] == 3 and workers[0].stats()["refused"] == 1
    box.close()
    again = Outbox(tmp_path, ("api", "ftp"))  # what the ftp outage held is still there
    assert again.stats()["pending"] == {"api": 0, "ftp": 2}
    again.close()
