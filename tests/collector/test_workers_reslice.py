"""The re-slice behind docs/scaling.md: three workers become two while stations stream, the
removed worker's stations handed over make-before-break (the two survivors subscribe to their
new stations first; the removed worker drains its session and spool, then its session is
dropped). Counted across the hand-over: readings lost (none may be) and messages delivered
twice (the overlap: both sessions held the moved stations' messages; InfluxDB keeps one
point per series and time, so they cost work, not data)."""

from __future__ import annotations

import uuid

import paho.mqtt.client as mqtt
import pytest
from collector_live import counts, free_window, wait_for
from station_stream import StationStream

import boards
from collector.config import Settings
from collector.pipeline import Collector
from collector.workers.slicing import owner, slice_of, worker_settings

pytestmark = [pytest.mark.services]


def drop_session(env: dict, client_id: str) -> None:
    """What the removed worker leaves: its session, which would queue forever."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.username_pw_set(env["QUANTRAC_MQTT_COLLECTOR_USER"], env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"])
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.disconnect()


def test_three_workers_become_two_without_losing_a_reading(services, tmp_path):
    env = services
    ids = boards.registry("phu-quoc").ids()
    moved = [s for s in ids if owner(s, 3) == 2][:2]  # worker 2's: they change hands
    kept = [s for s in ids if owner(s, 3) < 2 and owner(s, 3) == owner(s, 2)][:2]
    assert all(owner(s, 2) == owner(s, 3) for s in ids if owner(s, 3) < 2), \
        "rendezvous hashing: removing worker 2 moves only worker 2's stations"
    base = Settings.from_env(env, tmp_path, {
        "collector": {"data_dir": str(tmp_path / "data")},
        "sources": {"mqtt": {"client_id": f"t-{uuid.uuid4().hex[:6]}"}},
        "sinks": {"influxdb": {"flush_interval_s": 0.1}}})

    def worker(i: int, n: int) -> Collector:
        s = slice_of("phu-quoc", i, n)
        c = Collector(worker_settings(base, s), s)
        c.start()
        assert c.wait_ready(30)
        return c

    every: list[Collector] = []
    stream = StationStream(env, moved + kept, t0=free_window(env, 300 * 800), interval_s=0.02)
    try:
        old = [worker(i, 3) for i in range(3)]
        every += old
        stream.start()
        wait_for(lambda: stream.sent() > 100, "data flowing to three workers")
        for i in range(2):  # make: each survivor restarts on its session with the new slice
            old[i].stop()
            every.append(worker(i, 2))
        wait_for(lambda: stream.sent() > 300, "data flowing to both owners of the moved")
        old[2].stop()  # break: the removed worker has acked what it took; its session goes
        drop_session(env, f"{base.mqtt.client_id}-w2")
        wait_for(lambda: stream.sent() > 500, "data after the hand-over")
        stream.stop()
        want = stream.expected()
        wait_for(lambda: counts(env, stream.t0, stream.t_last) == want,
                 lambda: f"every reading stored: {counts(env, stream.t0, stream.t_last)}")
        sent = {st: want[(st, next(iter(StationStream.params(st))))] for st in moved + kept}
        delivered = {st: sum(c.stats["stations"].get(st, {}).get("messages", 0)
                             for c in every) for st in moved + kept}
        twice = {st: delivered[st] - sent[st] for st in sent}
        print(f"\nre-slice 3 -> 2: sent {sum(sent.values())} messages, lost 0, delivered twice:"
              f" moved stations {sum(twice[s] for s in moved)}, kept "
              f"{sum(twice[s] for s in kept)}")
        assert all(twice[s] == 0 for s in kept), twice  # their owner never changed
        assert all(twice[s] >= 0 for s in moved), twice
    finally:
        stream.stop()
        for c in every:
            c.stop()
