"""A recorded day replayed on the station's clock (hil/replay.py)."""

from __future__ import annotations

import pytest

from hil import replay
from hil.fastclock import FastClock

T0 = 1764954000  # 2025-12-06 00:00 +07:00


def test_the_hanoi_day_is_its_24_hours_in_local_order():
    day = replay.load_day(replay.HANOI_PM25, "2017-01-22")
    assert (day.param, len(day.hours)) == ("pm2_5", 24)
    # the rows labelled 01:00 (the hour 00-01) and 2017-01-23 00:00 (the hour 23-24)
    assert (day.hours[0], day.hours[-1]) == (60.2, 154.7)
    assert sum(day.hours) / 24 == pytest.approx(69.42, abs=0.01)


def test_the_source_answers_the_hour_the_station_clock_is_in():
    day = replay.load_day(replay.HANOI_PM25, "2017-01-22")
    clock = FastClock(t0=T0 + 21 * 3600 + 1800)
    source = replay.day_source(day, T0, clock, base={"pm10": 33.0}.__getitem__)
    assert source("pm2_5") == 117.8  # 21:30 local: the hour 21-22, labelled 22:00
    assert source("pm10") == 33.0    # not in the file: from the base signal


@pytest.mark.parametrize("cell, says", [("", "no pm2_5 for the hour ending 2017-01-22T04:00"),
                                        ("-3", "pm2_5 at 2017-01-22T04:00: -3.0 is negative"),
                                        ("high", "'high' is not a number")])
def test_a_day_with_a_hole_or_a_bad_cell_is_refused_naming_the_hour(tmp_path, cell, says):
    lines = replay.HANOI_PM25.read_text().splitlines()
    lines[4] = ",".join([*lines[4].split(",")[:3], cell])
    bad = tmp_path / "day.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(replay.ReplayError, match=says):
        replay.load_day(bad, "2017-01-22")
