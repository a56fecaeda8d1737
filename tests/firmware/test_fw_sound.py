"""The sound-level meter: 1 s levels from an independent Modbus slave (pymodbus, registers written
here by hand) through the whole unix-port firmware on a fast clock into the project's Mosquitto;
each record's laeq, lamax, lamin, l10, l50, l90 against the collector's own noise maths
(collector/domain/noise.py, CPython, written apart from the firmware) on the levels served.

The slave changes its level register before each read it answers (a pymodbus action), so the
test knows every level the station read, in order. The meter reads half-way between station
seconds and records close on whole seconds, so each record holds exactly report_s levels.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path

import pytest
from fw_harness import ModbusServer, NullModem, validator
from fw_station import Subscriber

import boards
from collector.domain import noise

pytestmark = [pytest.mark.services, pytest.mark.slow]

STATION = "pq-air-02"
ADDRESS = 4  # the profile option's address for the meter
SIX = ("laeq", "lamax", "lamin", "l10", "l50", "l90")
check_data = validator("data")


class Levels:
    """The level register of a sound transmitter: the next of `levels` (dB) for each read,
    cycling; every level served is kept in order."""

    def __init__(self, levels: list[float]) -> None:
        self.levels = levels
        self.served: list[float] = []

    async def action(self, func_code, start, address, count, registers, values):
        if values is None and func_code == 3:  # a read: the level of this second
            level = self.levels[len(self.served) % len(self.levels)]
            registers[address - start] = round(level * 10) & 0xFFFF  # int16, dB(A) x 10
            self.served.append(level)
        return None


def station_password(env: dict[str, str]) -> str:
    entry = json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())[STATION]
    return entry["password"] if isinstance(entry, dict) else entry


def config(env: dict[str, str], rs485: str, report_s: int) -> dict:
    """The night-market station with the profile's noise option, cut down to the meter."""
    station = dataclasses.replace(boards.registry().get(STATION), options=("noise",))
    mqtt = {"host": env["QUANTRAC_MQTT_HOST"], "port": int(env["QUANTRAC_MQTT_PORT"]),
            "user": STATION, "password": station_password(env)}
    cfg = boards.firmware_config(station, uarts={"rs485": {"path": rs485}, "pm": {"path": "x"}},
                                 mqtt=mqtt, sample_s=1, report_s=report_s,
                                 clock={"speed": 2, "t0": int(time.time()) - 3600})
    cfg["sensors"] = [s for s in cfg["sensors"] if s["id"] == "noise"]
    cfg["uarts"] = {"rs485": cfg["uarts"]["rs485"]}
    assert cfg["sensors"][0]["sample_s"] == 1 and cfg["sensors"][0]["addr"] == ADDRESS
    return cfg


@pytest.fixture
def meter():
    made: list = []

    def start(levels: list[float]) -> tuple[str, Levels]:
        modem = NullModem()
        made.append(modem)
        reg = Levels(levels)
        made.append(ModbusServer(modem.b.path, {ADDRESS: ([0], [])},
                                 actions={ADDRESS: reg.action}))
        return modem.a.path, reg

    yield start
    for thing in reversed(made):
        thing.stop() if isinstance(thing, ModbusServer) else thing.close()


def records_of(env, launch, rs485: str, report_s: int, count: int) -> tuple[list[dict], str]:
    sub = Subscriber(env, f"quantrac/v1/{STATION}/data")
    try:
        fw = launch(config(env, rs485, report_s))
        fw.wait_log(r"mqtt connected", timeout=30)
        msgs = sub.wait_for(lambda m: sum(len(json.loads(p)["r"]) for _, p, _ in m) >= count,
                            timeout=90)
        assert fw.stop() == 0, fw.log()
    finally:
        sub.close()
    data = [json.loads(p) for _, p, _ in msgs]
    for msg in data:
        check_data(msg)
    return [r for msg in data for r in msg["r"]], fw.log()


def rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in values.items()}


def test_equal_seconds_at_50_60_and_70_db_make_an_laeq_of_65_7(services, meter, launch):
    rs485, reg = meter([50.0, 60.0, 70.0])
    records, log = records_of(services, launch, rs485, report_s=3, count=5)
    full = records[1:]  # the first covers the part of a period after the boot
    assert len(full) >= 3, log
    want = rounded(noise.summary([50, 60, 70]))
    assert want == {"laeq": 65.7, "lamax": 70.0, "lamin": 50.0, "l10": 70.0, "l50": 60.0,
                    "l90": 50.0}  # the energy mean, not the arithmetic 60
    for r in full:
        got = {p: r["d"][p][0] for p in SIX}
        assert got == want, (r, log)
        for p in SIX:
            value, unit, status, n, flags = r["d"][p]
            assert (unit, status, flags & 1) == ("dBA", 0, 0), (p, r)
    # every record holds whole cycles: the slave served levels in threes
    assert len(reg.served) >= 3 * len(full)


def test_street_levels_give_what_the_collectors_maths_gives_for_each_record(services, meter,
                                                                              launch):
    rng = random.Random(18)
    # a street: a background near 55 dB(A) with pass-bys up to 90; 0.1 dB steps, some on a
    # histogram bin's edge (x.0 and x.5 dB)
    levels = [round(rng.choice([rng.gauss(55, 3), rng.uniform(60, 90)]), 1) for _ in range(53)]
    levels[7], levels[31] = 25.0, 135.0  # outside the meter's 30-130 dB: dropped, flagged
    report_s = 12
    rs485, reg = meter(levels)
    records, log = records_of(services, launch, rs485, report_s=report_s, count=5)
    full = records[1:]
    assert len(full) >= 3, log
    first_level = None
    # the levels of the partial first record are those served before the first full one:
    # find where the full records start, then every record must be its 12 levels exactly
    for skip in range(report_s + 1):
        runs = [reg.served[skip + i * report_s: skip + (i + 1) * report_s]
                for i in range(len(full))]
        if all(len(run) == report_s for run in runs) and all(
                {p: r["d"][p][0] for p in SIX} == expected(run)
                and all((r["d"][p][4] & 1) == (min(run) < 30 or max(run) > 130) for p in SIX)
                for r, run in zip(full, runs)):
            first_level = skip
            break
    assert first_level is not None, (
        "no alignment of the served levels matches the records:\n"
        + "\n".join(f"{r['t']}: { {p: r['d'][p][0] for p in SIX} }" for r in full)
        + f"\nserved {reg.served}\n{log}")
    # and it is not the arithmetic mean that matched
    run = [x for x in reg.served[first_level:first_level + report_s] if 30 <= x <= 130]
    assert full[0]["d"]["laeq"][0] > round(sum(run) / len(run), 1) + 1
    assert any(r["d"]["laeq"][4] & 1 for r in full), "a record with a dropped level"


def expected(run: list[float]) -> dict[str, float]:
    """What the station must send for these levels: LAeq, LAmax, LAmin from the samples;
    L10, L50, L90 from the 0.5 dB histogram of docs/noise.md (the lower edge of the bin). Levels
    outside the meter's 30-130 dB are not in them."""
    run = [x for x in run if 30 <= x <= 130]
    out = rounded({"laeq": noise.laeq(run), "lamax": max(run), "lamin": min(run)})
    out.update(noise.statistical_from_histogram(noise.histogram(run)))
    return out
