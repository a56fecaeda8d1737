"""A station's renamed channel (boards/param_names.py: temp_thp, a second water temperature)
gets the QC limits of its base parameter, and its own sensor range."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import boards
from collector.processors.qc.limits import registry_limits


@pytest.fixture
def second_temperature(monkeypatch) -> Iterator[None]:
    real = boards._read

    def read(path):
        doc = real(path)
        if path.parent.name == "profiles" and path.stem == "tap-water":
            doc["sensors"].append({"id": "thp", "model": "qt-thp-485", "uart": "rs485",
                                   "address": 7, "params": {"temp": "temp_thp"}})
        return doc

    monkeypatch.setattr(boards, "_read", read)
    for cached in (boards.catalog, boards.profile, boards.registry):
        cached.cache_clear()
    yield
    monkeypatch.undo()
    for cached in (boards.catalog, boards.profile, boards.registry):
        cached.cache_clear()


def test_a_renamed_channel_gets_the_limits_of_its_base_parameter(second_temperature):
    limits = registry_limits()["pq-tap-01"]
    base, renamed = limits["temp"], limits["temp_thp"]
    assert renamed.suspect == base.suspect == (15.0, 40.0)  # kinds.tap_water.temp
    assert renamed.fail == base.fail and renamed.spike == base.spike
    assert (base.sensor, renamed.sensor) == ((0.0, 60.0), (-40.0, 80.0))  # each its probe's
