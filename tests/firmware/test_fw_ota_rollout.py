"""A staged rollout (`quantrac fleet rollout`, quantrac/fwrollout.py) over six unix-port air
stations with their simulated sensors (hil.SimulatedStation), through the real broker: it halts
at a canary whose new code fails, completes when nothing fails, and a station offline while a
rollout halts never applies the halted version."""

from __future__ import annotations

import json
import time

import pytest
from test_fw_ota import kit  # noqa: F401 (the build, key and bundles: a module fixture)

import boards
from hil.station import SimulatedStation
from quantrac import fwbundle, fwrollout
from quantrac.bench.ota import Station, install
from quantrac.fwpublish import Operator

pytestmark = [pytest.mark.services, pytest.mark.slow]

FLEET = [f"pq-air-{i:02d}" for i in range(11, 17)]  # six air stations no other test runs


class Fleet:
    def __init__(self, env: dict, kit: dict, run_dir) -> None:  # noqa: F811
        self.env, self.kit = env, kit
        self.sims: dict[str, SimulatedStation] = {}
        self.runs: dict[str, Station] = {}
        reg = boards.registry()
        for st in FLEET:
            sim = SimulatedStation(reg.get(st), env, run_dir, sample_s=1, report_s=5)
            self.sims[st] = sim
            sim.prepare()
            install(sim.dir, kit["build"], kit["v1"], kit["pub"])

    def start(self, st: str) -> None:
        self.runs[st] = Station(self.sims[st].dir)

    def stop(self, st: str) -> None:
        self.runs.pop(st).stop()

    def close(self) -> None:
        for st in list(self.runs):
            self.stop(st)
        for sim in self.sims.values():
            sim.stop()
        with Operator(self.env) as op:  # retained wanted versions and chunks outlive a test
            fwrollout.halt(op, FLEET, {}, len(fwbundle.chunks(self.kit["v2"])) + 2)

    def log(self, st: str) -> str:
        return self.runs[st].log() if st in self.runs else "(not running)"


@pytest.fixture
def fleet(services, kit, tmp_path):  # noqa: F811
    f = Fleet(services, kit, tmp_path)
    try:
        yield f
    finally:
        f.close()


def wait_online(env: dict, stations: list[str], version: str, timeout: float = 60) -> None:
    watch = fwrollout.Watch(env)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(watch.online.get(s) and watch.fw.get(s) == version for s in stations):
                return
            time.sleep(0.2)
        raise AssertionError(f"not all online with {version}: {watch.fw} {watch.online}")
    finally:
        watch.close()


def test_ota_rollout_halts_at_a_failing_canary(services, kit, fleet):  # noqa: F811
    for st in FLEET:
        fleet.start(st)
    wait_online(services, FLEET, "1.0.0")
    result = fwrollout.rollout(services, kit["bad"], FLEET, FLEET[0], [0.5, 1.0],
                               timeout_s=180, say=lambda _m: None)
    assert result.halted and result.staged == [FLEET[0]], result
    assert result.why.startswith(f"{FLEET[0]}: rolled_back"), (result.why, fleet.log(FLEET[0]))
    # the canary is back on its version; no other station was offered the bundle
    wait_online(services, FLEET, "1.0.0")
    for st in FLEET[1:]:
        assert "ota download" not in fleet.log(st)
        assert (fleet.sims[st].dir / "ota" / "active").read_text() == "a"


def test_ota_rollout_completes_and_an_offline_station_never_applies_a_halted_one(
        services, kit, fleet):  # noqa: F811
    offline = FLEET[-1]
    for st in FLEET:
        fleet.start(st)
    wait_online(services, FLEET, "1.0.0")
    fleet.stop(offline)  # its persistent session (subscribed to fw) stays at the broker
    # the last stage cannot report healthy: the rollout halts there, after the offline
    # station's wanted version was published and queued for it
    result = fwrollout.rollout(services, kit["v2"], FLEET, FLEET[0], [0.5, 1.0],
                               timeout_s=60, say=lambda _m: None)
    assert result.halted and offline in result.staged and offline in result.why, result
    assert set(result.healthy) >= set(FLEET[:3])
    fleet.start(offline)
    wait_online(services, [offline], "1.0.0")
    time.sleep(5)  # time to act on whatever the broker delivered
    ota = fleet.sims[offline].dir / "ota"
    assert (ota / "active").read_text() == "a" and not (ota / "trial").exists()
    assert not (ota / "dl").exists() and not (ota / "want").exists(), fleet.log(offline)
    assert fleet.runs[offline].exits == []
    # the same rollout again, the whole fleet online: it completes
    result = fwrollout.rollout(services, kit["v2"], FLEET, FLEET[0], [0.5, 1.0],
                               timeout_s=180, say=lambda _m: None)
    assert not result.halted and sorted(result.healthy) == sorted(FLEET), result
    wait_online(services, FLEET, "1.1.0")
    log = json.dumps({st: fleet.log(st)[-300:] for st in FLEET})
    assert (ota / "active").read_text() == "b", log
