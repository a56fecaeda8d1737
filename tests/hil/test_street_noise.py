"""Street noise for the sound simulators: seeded, shaped like its profile, read over the wire."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import minimalmodbus
import pytest

import boards
from hil import noise
from hil.bus import ModbusBus
from hil.fastclock import FastClock
from hil.modbus_slave import ModbusSlave
from hil.ports import PtyPort

ICT = timezone(timedelta(hours=7))
DAY = datetime(2026, 6, 2, tzinfo=ICT).timestamp()  # local midnight


def hour_laeq(street: noise.StreetNoise, hour: int) -> float:
    return street.laeq(DAY + hour * 3600, DAY + (hour + 1) * 3600)


def test_a_seed_pins_the_levels_and_another_seed_changes_them():
    a = noise.StreetNoise("traffic", seed=5)
    b = noise.StreetNoise("traffic", seed=5)
    c = noise.StreetNoise("traffic", seed=6)
    t = DAY + 8 * 3600
    run = [a.level(t + i) for i in range(600)]
    assert run == [b.level(t + i) for i in range(600)]
    assert run != [c.level(t + i) for i in range(600)]
    # stateless: asking out of order gives the same numbers
    assert [a.level(t + i) for i in reversed(range(600))] == run[::-1]


def test_late_traffic_pass_bys_make_the_laeq_several_db_above_the_arithmetic_mean():
    street = noise.StreetNoise("traffic", seed=1)
    t = DAY + 22 * 3600  # a calm street with a motorbike now and then
    levels = street.levels(t, t + 3600)
    median = sorted(levels)[len(levels) // 2]
    arithmetic = sum(levels) / len(levels)
    # the loud seconds dominate an energy mean: that is what the station must report
    assert street.laeq(t, t + 3600) > arithmetic + 3
    assert max(levels) > median + 15  # pass-bys stand out of the background
    rush = street.levels(DAY + 8 * 3600, DAY + 9 * 3600)
    assert sorted(rush)[1800] > median + 10  # the morning rush lifts the whole hour


def test_the_night_market_is_loud_in_the_evening_and_quiet_after_midnight():
    street = noise.StreetNoise("night-market", seed=2)
    evening = [hour_laeq(street, h) for h in (21, 22)]
    assert all(x > 55 + 5 for x in evening)          # well above QCVN 26:2010's night 55
    assert all(hour_laeq(street, h) < 70 for h in range(6, 21))  # within the day's 70
    assert all(hour_laeq(street, h) < 55 for h in (0, 1, 2, 3))


def test_aircraft_only_fly_by_day_and_quiet_nights_are_quiet():
    airport = noise.StreetNoise("airport", seed=3)
    assert max(airport.levels(DAY + 10 * 3600, DAY + 13 * 3600)) > 75  # a takeoff
    assert max(airport.levels(DAY + 1 * 3600, DAY + 4 * 3600)) < 70    # no flights
    quiet = noise.StreetNoise("quiet-night", seed=3)
    assert hour_laeq(quiet, 2) < 45


def test_laeq_is_the_energy_mean_of_the_levels():
    street = noise.StreetNoise("traffic", seed=9)
    lv = street.levels(DAY, DAY + 30)
    want = 10 * math.log10(sum(10 ** (x / 10) for x in lv) / len(lv))
    assert street.laeq(DAY, DAY + 30) == pytest.approx(want, abs=1e-9)


def test_stations_have_their_street_and_a_bad_profile_is_named(tmp_path):
    assert noise.profile_for("pq-air-02") == "night-market"
    assert noise.profile_for("pq-air-04") == "airport"
    assert noise.profile_for("pq-air-12") == "quiet-night"
    with pytest.raises(noise.NoiseProfileError, match="no noise profile 'beach'"):
        noise.StreetNoise("beach")
    doc = json.loads(noise.PROFILES.read_text())
    doc["profiles"]["traffic"]["background"] = [50] * 23
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(noise.NoiseProfileError,
                       match=r"bad.json: profiles.traffic.background: needs 24 numbers"):
        noise.profiles(bad)


def test_a_master_reads_the_street_level_off_the_sound_transmitter():
    spec = boards.catalog()["qt-sound-485"]
    clock = FastClock(speed=1, t0=DAY + 20 * 3600)
    clock.start()
    street = noise.StreetNoise("night-market", seed=4)
    slave = ModbusSlave(spec, 4, street.source(clock))
    port = PtyPort()
    bus = ModbusBus(port, [slave])
    bus.start()
    master = minimalmodbus.Instrument(port.path, 4, close_port_after_each_call=False)
    master.serial.timeout = 0.5
    try:
        before = street.level(clock.now())
        got = master.read_register(0, 1, 3, True)
        after = street.level(clock.now())
        assert got in (before, after)  # dB(A) x 10 in register 0, int16
        with pytest.raises(KeyError, match="one level register: pin 'laeq'"):
            slave.pin("l90", 40)
        slave.pin("laeq", 81.3)
        assert master.read_register(0, 1, 3, True) == 81.3
    finally:
        master.serial.close()
        bus.stop()
        port.close()
