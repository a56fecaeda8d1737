"""Processor state across restarts: atomic file, unreadable file set aside."""

from __future__ import annotations

from collector.state_store import StateStore


def test_state_round_trips_and_is_replaced_whole(tmp_path):
    store = StateStore(tmp_path / "c" / "state.json")
    assert store.load() == {}
    store.save({"qc": {"v": 1, "series": {}}, "dedupe": {"v": 1, "stations": {}}})
    store.save({"qc": {"v": 1, "series": {"a|b": {"h": [[1, 2.0]]}}}})
    assert store.load() == {"qc": {"v": 1, "series": {"a|b": {"h": [[1, 2.0]]}}}}
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["state.json"]


def test_an_unreadable_state_file_is_set_aside_and_the_processors_start_empty(tmp_path, caplog):
    path = tmp_path / "state.json"
    path.write_text('{"qc": {"v": 1, "ser')  # cut short
    assert StateStore(path).load() == {}
    assert (tmp_path / "state.json.bad").read_text().startswith('{"qc"')
    assert not path.exists() and "unreadable" in caplog.text
