"""The `device` stage: station status and event messages become `device` points; a bad
field is left out with the rest kept, an unreadable message is skipped with its reason."""

from __future__ import annotations

import json
import logging

import pytest

from collector.contracts import Batch, Envelope, Reading
from collector.processors.device.plugin import DeviceProcessor

NOW = 1_795_000_000.0
ST = "pq-air-03"


def env(kind: str, doc: object, station: str = ST, raw: bytes | None = None) -> Envelope:
    payload = raw if raw is not None else json.dumps(doc).encode()
    return Envelope(f"quantrac/v1/{station}/{kind}", payload, NOW)


def points(*envs: Envelope) -> list:
    return DeviceProcessor().process(Batch(list(envs))).points


def test_status_birth_and_health_become_points_with_the_station_clock():
    status, birth, health = points(
        env("status", {"v": 1, "st": ST, "online": True, "fw": "0.1.0", "boot": "9f2c4a1e",
                       "t": 1_794_999_000}),
        env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "birth", "t": 1_794_999_001,
                      "fw": "0.1.0", "reset": "watchdog", "crumb": "publish", "boots": 4,
                      "uptime_before": 3600, "cal": {"so2": 2}, "slot": "b"}),
        env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "health", "t": 1_794_999_900,
                      "heap": 61234, "backlog": 12, "dropped": 0, "rssi": -67, "uptime": 900,
                      "errors": {"modbus_timeout": 3, "crc": 1}}))
    assert status.measurement == "device"
    assert status.tags == {"station": ST, "kind": "air", "message": "status"}
    assert status.fields == {"online": True, "fw": "0.1.0", "boot": "9f2c4a1e"}
    assert status.time == 1_794_999_000
    assert birth.tags["message"] == "birth" and birth.fields == {
        "boot": "9f2c4a1e", "fw": "0.1.0", "reset": "watchdog", "crumb": "publish", "boots": 4,
        "uptime_before": 3600, "slot": "b"}
    assert health.fields == {"boot": "9f2c4a1e", "heap": 61234, "backlog": 12, "dropped": 0,
                             "rssi": -67, "uptime": 900, "errors": 4,
                             "errors_by": "crc=1 modbus_timeout=3"}


def test_a_last_will_without_time_is_stamped_when_received():
    (p,) = points(env("status", {"v": 1, "st": ST, "online": False, "boot": "9f2c4a1e"}))
    assert p.fields == {"online": False, "boot": "9f2c4a1e"} and p.time == int(NOW)


@pytest.mark.parametrize("t", [0, 1_600_000_000, int(NOW) + 3600, "soon", None])
def test_an_implausible_station_clock_gives_the_receive_time(t):
    (p,) = points(env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "health",
                                "t": t, "heap": 1}))
    assert p.time == int(NOW)


def test_a_wired_station_without_rssi_stores_the_rest():
    (p,) = points(env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "health",
                                "heap": 50000, "backlog": 0, "rssi": None, "uptime": 10,
                                "errors": {}}))
    assert "rssi" not in p.fields and p.fields["heap"] == 50000 and p.fields["errors"] == 0


def test_a_field_of_the_wrong_type_is_left_out_and_named(caplog):
    caplog.set_level(logging.WARNING, "quantrac.collector.device")
    (p,) = points(env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "health",
                                "heap": "lots", "backlog": 3.0, "uptime": True, "rssi": -70}))
    assert p.fields == {"boot": "9f2c4a1e", "backlog": 3, "rssi": -70}
    assert "health.heap: 'lots' is not an integer" in caplog.text
    assert "health.uptime: True is not an integer" in caplog.text


@pytest.mark.parametrize("envelope, says", [
    (env("status", None, raw=b"\xff\xfe"), "payload is not UTF-8"),
    (env("status", None, raw=b"{online"), "payload is not JSON"),
    (env("event", [1, 2]), "payload is a JSON list, not an object"),
    (env("status", {"v": 2, "st": ST, "online": True}), "v: 2 is not protocol version 1"),
    (env("status", {"v": 1, "st": "pq-air-04", "online": True}),
     "st: 'pq-air-04' differs from the topic's station 'pq-air-03'"),
    (env("status", {"v": 1, "st": ST, "online": "yes"}), "online: 'yes' is not true or false"),
    (env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "health", "heap": "x"}),
     "health: none of heap, backlog, dropped, rssi, uptime is usable"),
    (env("status", {"v": 1, "st": "pq-zz-01", "online": True}, station="pq-zz-01"),
     "station 'pq-zz-01' is not in the registry"),
])
def test_an_unreadable_message_is_skipped_with_its_reason(caplog, envelope, says):
    caplog.set_level(logging.WARNING, "quantrac.collector.device")
    stage = DeviceProcessor()
    assert stage.process(Batch([envelope])).points == []
    assert says in caplog.text and stage.skipped == 1


def test_command_answers_are_not_device_facts(caplog):
    caplog.set_level(logging.WARNING, "quantrac.collector.device")
    assert points(env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "ack",
                                "id": "c-1", "ok": True})) == []
    assert caplog.text == ""


def test_data_batches_pass_untouched():
    r = Reading(ST, "air", "so2", "ug/Nm3", 1_794_999_000, 12.0, 0)
    batch = Batch([Envelope(f"quantrac/v1/{ST}/data", b"{}", NOW)], readings=[r])
    out = DeviceProcessor().process(batch)
    assert out.readings == [r] and out.points == []


def test_a_retained_status_handed_over_again_is_stored_once():
    # the broker repeats retained statuses at every collector (re)subscribe, also after a
    # restart (the memory travels in the collector's saved state)
    will = env("status", {"v": 1, "st": ST, "online": False, "boot": "9f2c4a1e"})
    first = DeviceProcessor()
    assert len(first.process(Batch([will])).points) == 1
    assert first.process(Batch([will])).points == []
    after_restart = DeviceProcessor()
    after_restart.restore(json.loads(json.dumps(first.state())))
    assert after_restart.process(Batch([will])).points == []
    back = env("status", {"v": 1, "st": ST, "online": True, "fw": "0.1.0", "boot": "77aa0001",
                          "t": 1_794_999_000})
    assert len(after_restart.process(Batch([back, will])).points) == 2  # a change, then the will
