"""Delivery through the spool against the session's real broker and database: a full spool
stops acknowledging instead of dropping, and collectors in one MQTT 5 shared-subscription
group split the messages between them."""

from __future__ import annotations

import dataclasses
import socket
import uuid

import pytest
from collector_live import counts, free_window, publish_many, wait_for

from collector.config import CollectorOptions, Settings

pytestmark = pytest.mark.services
MINE = ["validate", "units", "dedupe", "qc"]  # this stage's chain: points of later stages
# would make the spool's fill level depend on their output



def air(station: str, t: int, seq: int, boot: str) -> dict:
    d = {p: [10.0 + seq % 5, u, 0, 30, 0] for p, u in
         [("so2", "ppb"), ("no2", "ppb"), ("o3", "ppb"), ("co", "ppm"), ("temp", "degC"),
          ("rh", "%"), ("pressure", "hPa"), ("tsp", "ug/m3"), ("pm10", "ug/m3")]}
    d["pressure"][0] = 1005.0
    return {"v": 1, "st": station, "fw": "0.1.0", "boot": boot, "seq": seq,
            "r": [{"t": t, "p": 300, "d": d}]}


def test_a_full_spool_stops_acknowledging_and_loses_nothing(services, tmp_path, collectors):
    env, station, n = services, "pq-air-13", 1500
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{s.getsockname()[1]}"
    client_id = f"full-{uuid.uuid4().hex[:6]}"
    good = Settings.from_env(env, tmp_path, {
        "collector": {"processors": MINE},
        "spool": {"max_bytes": 1 << 20, "segment_bytes": 1 << 16, "high_water": 0.5},
        "sources": {"mqtt": {"client_id": client_id}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 0.5}}})
    broken = dataclasses.replace(good, influx_write_url=dead_url,
                                 collector=CollectorOptions(processors=tuple(MINE),
                                                            stop_timeout_s=0.5))
    first = collectors(broken)
    heard = []
    first.add_spool_listener(heard.append)
    t0, boot = free_window(env, 300 * n), uuid.uuid4().hex[:8]
    publish_many(env, station, [air(station, t0 + 300 * i, i, boot) for i in range(n)])
    wait_for(lambda: first.stats["totals"]["spool_full"], "the spool to fill")
    stats = first.stats
    assert stats["spool"]["bytes"] <= 1 << 20 and stats["spool"]["high_water"]
    assert 0 < stats["totals"]["acked"] < n, "a full spool must stop acknowledging"
    assert heard and heard[0]["high_water"] is True
    first.stop()  # the unacknowledged rest stays with the broker, the spool keeps its part

    second = collectors(good)  # same session, same spool, a database that answers
    want = {(station, p): n for p in air(station, 0, 0, boot)["r"][0]["d"]}
    wait_for(lambda: counts(env, t0, t0 + 300 * n) == want, "all of it stored", timeout=90)
    wait_for(lambda: second.stats["spool"]["depth"] == 0, "the spool to empty")
    assert second.stats["totals"]["rejected"] == 0


def test_collectors_in_one_shared_group_split_the_messages(services, tmp_path, collectors):
    env, n = services, 200
    group = f"g{uuid.uuid4().hex[:6]}"
    made = [collectors(Settings.from_env(env, tmp_path / name, {
        "collector": {"processors": MINE},
        "sources": {"mqtt": {"client_id": f"{group}-{name}", "protocol": "5",
                             "share_group": group, "topics": ["quantrac/v1/+/data"]}}}))
        for name in ("a", "b")]
    t0, boot = free_window(env, 300 * n), uuid.uuid4().hex[:8]
    stations = ["pq-air-14", "pq-air-15"]
    for st in stations:
        publish_many(env, st, [air(st, t0 + 300 * i, i, boot) for i in range(n)])
    want = {(st, p): n for st in stations for p in air(st, 0, 0, boot)["r"][0]["d"]}
    wait_for(lambda: counts(env, t0, t0 + 300 * n) == want, "every message stored")
    handled = [c.stats["totals"]["messages"] for c in made]
    assert sum(handled) == n * len(stations), handled  # each message went to one of them
    assert all(h > 0 for h in handled), handled
    assert sum(c.stats["totals"]["duplicates"] for c in made) == 0
