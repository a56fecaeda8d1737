"""A station's `ota` events (firmware updates: download, refused, staged, good, rolled_back)
are stored in the `device` measurement, so the last update result of every station can be
queried and shown beside its version."""

from __future__ import annotations

from test_device_stage import ST, env, points


def test_an_update_result_becomes_a_device_point():
    good, back = points(
        env("event", {"v": 1, "st": ST, "boot": "9f2c4a1e", "ev": "ota", "t": 1_794_999_001,
                      "state": "good", "ver": "1.1.0"}),
        env("event", {"v": 1, "st": ST, "boot": "0badc0de", "ev": "ota", "t": 1_794_999_500,
                      "state": "rolled_back", "ver": "1.2.0",
                      "why": "no healthy run in its trial boots"}))
    assert good.tags == {"station": ST, "kind": "air", "message": "ota"}
    assert good.fields == {"boot": "9f2c4a1e", "state": "good", "ver": "1.1.0"}
    assert back.fields == {"boot": "0badc0de", "state": "rolled_back", "ver": "1.2.0",
                           "why": "no healthy run in its trial boots"}
    assert back.time == 1_794_999_500
