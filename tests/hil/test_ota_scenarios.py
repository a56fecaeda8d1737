"""Over-the-air updates as HIL scenarios (hil/scenarios/ota-*.yaml) on the unix-port .mpy
firmware, the fast clock, the real broker and collector: one `quantrac hil run` of the four,
side by side, whose report every test reads (a module fixture: the run takes a few minutes on
two cores, dominated by the rollout's stage timeout for the station off the air).

Also: a mistake in a scenario's firmware or ota section is named (file and key) before
anything starts."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hil import scenario
from quantrac.cli import main

NAMES = ["ota-good-update", "ota-rollback", "ota-tampered", "ota-rollout"]


@pytest.fixture(scope="module")
def report(services, session_run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ota") / "hil-report.json"
    args = ["hil", "run", "--run-dir", str(session_run_dir), "--report", str(out)]
    for name in NAMES:
        args += ["--scenario", name]
    result = CliRunner().invoke(main, args)
    doc = json.loads(out.read_text())
    return result, {s["name"]: s for s in doc["scenarios"]}


def passed(report, name: str) -> dict[str, str]:
    """what -> detail of every check of the scenario; asserts that all passed."""
    sc = report[1][name]
    failed = [f"{c['what']}: {c['detail']}" for c in sc["checks"] if not c["passed"]]
    assert not sc.get("error") and not failed, json.dumps(
        [sc.get("error"), failed], indent=1, ensure_ascii=False)
    return {c["what"]: c["detail"] for c in sc["checks"]}


@pytest.mark.services
@pytest.mark.slow
def test_ota_a_good_update_reaches_a_station_and_it_reports_the_new_version(report):
    checks = passed(report, "ota-good-update")
    assert "births: 1.0.0, 1.1.0; active slot b, its last birth says slot b" in checks[
        "it reports 1.1.0 (its birth after the switch), running from slot b"]
    assert "exit codes [3]" in checks["one restart, the switch"]


@pytest.mark.services
@pytest.mark.slow
def test_ota_new_code_that_raises_at_boot_rolls_back_within_its_trial_boots(report):
    checks = passed(report, "ota-rollback")
    assert "rolled_back 1.2.0 (no healthy run in its trial boots)" in checks[
        "it reports the rollback of 1.2.0 and why"]
    assert checks["it runs 1.0.0 from slot a again"].endswith(
        "active slot a, its last birth says slot a")


@pytest.mark.services
@pytest.mark.slow
def test_ota_tampered_forged_and_lower_bundles_are_refused_with_the_reason(report):
    checks = passed(report, "ota-tampered")
    assert "sha256 does not match the manifest" in checks[
        "the tampered bundle is refused, the file's hash named"]
    assert "exit codes [3]" in checks[
        "the refusals restart nothing (one restart, the forced switch)"]


@pytest.mark.services
@pytest.mark.slow
def test_ota_staged_rollouts_complete_halt_at_a_failing_canary_and_spare_an_offline_station(
        report):
    checks = passed(report, "ota-rollout")
    assert checks["the rollout of 1.2.0 halts at the canary, which rolled back"].startswith(
        "halted (pq-air-11: rolled_back")
    assert "births: 1.0.0, 1.1.0, 1.1.0" in checks[
        "it runs 1.1.0 from slot b, as before it went off the air"]
    result, scenarios = report
    failed = any(not c["passed"] for sc in scenarios.values() for c in sc["checks"])
    assert result.exit_code == (1 if failed else 0), result.output


# ---- the scenario format ----------------------------------------------------------------------

GOOD = """\
about: an update
start: 2025-06-10T06:00:00+07:00
duration: 1h
speed: 30
stations: [pq-air-15, pq-air-16]
firmware:
  installed: 1.0.0
  bundles: {1.1.0: good}
ota:
  - {at: 5m, rollout: 1.1.0, id: all, canary: pq-air-15, stages: "100%", timeout: 10m}
  - {offline: pq-air-16}
checks:
  - what: complete
    rollout: {id: all, outcome: complete}
  - what: good
    ota: {stations: [pq-air-15, pq-air-16], state: good, ver: 1.1.0}
"""


def load(tmp_path, text: str):
    path = tmp_path / "ota-case.yaml"
    path.write_text(text)
    return scenario.load(path)


def test_an_ota_scenario_resolves_its_steps_and_one_check_per_station(tmp_path):
    sc = load(tmp_path, GOOD)
    rollout, offline = sc.firmware.steps
    assert (rollout.action, rollout.canary, rollout.stages) == ("rollout", "pq-air-15", (1.0,))
    assert rollout.at == sc.start + 300 and rollout.timeout_s == 600
    assert (offline.action, offline.at, offline.stations) == ("offline", None, ("pq-air-16",))
    assert [c.station for c in sc.checks if c.kind == "ota"] == ["pq-air-15", "pq-air-16"]
    assert [c.what for c in sc.checks][1:] == ["good (pq-air-15)", "good (pq-air-16)"]


@pytest.mark.parametrize(("change", "named"), [
    (("1.1.0: good", "1.1.0: broken"), "firmware.bundles.1.1.0: 'broken' is not one of good"),
    (("rollout: 1.1.0,", "rollout: 1.4.0,"), "ota[0].rollout: 1.4.0 is not one of"),
    (("canary: pq-air-15", "canary: pq-air-01"), "ota[0]: --canary 'pq-air-01'"),
    (("stages: \"100%\"", "stages: \"50%\""), "ota[0]: --stages: the last stage"),
    ((", timeout: 10m}", "}"), "ota[0].timeout: a rollout needs its stage timeout"),
    (("{offline: pq-air-16}", "{offline: pq-air-01}"), "ota[1].offline: 'pq-air-01' is not"),
    (("{offline: pq-air-16}", "{offline: pq-air-16, at: 2h}"), "ota[1].at: after the"),
    (("{id: all, outcome", "{id: some, outcome"), "checks[0].rollout.id: 'some' is not the id"),
    (("state: good,", "state: fine,"), "checks[1].ota.state: 'fine' is not one of"),
    (("installed: 1.0.0", "installed: latest"), "firmware.installed: version 'latest'"),
])
def test_a_mistake_in_the_ota_sections_is_named(tmp_path, change, named):
    old, new = change
    assert old in GOOD
    with pytest.raises(scenario.ScenarioError) as e:
        load(tmp_path, GOOD.replace(old, new))
    assert named in str(e.value)
    assert str(e.value).startswith("ota-case.yaml: ")


def test_an_ota_check_needs_the_firmware_section(tmp_path):
    text = GOOD[:GOOD.index("firmware:")] + GOOD[GOOD.index("checks:"):]
    with pytest.raises(scenario.ScenarioError, match=r"checks\[0\].rollout: an over-the-air"):
        load(tmp_path, text)


# ---- the judges, on events as the operations room recorded them --------------------------------

class Recorded:
    """What a run's watcher holds: the events each station sent (no broker needed to judge)."""

    def __init__(self, events: dict[str, list[dict]]) -> None:
        self._events = events

    def events(self, station: str) -> list[dict]:
        return self._events.get(station, [])


class Played:
    def __init__(self, rollouts: dict) -> None:
        self.rollouts = rollouts
        self.stations: dict = {}


def judged(tmp_path, check: dict, events: dict, rollouts: dict | None = None,
           stations: dict | None = None) -> bool:
    from hil import checks, ota_checks

    sc = load(tmp_path, GOOD.replace(GOOD[GOOD.index("checks:"):],
                                     "checks:\n" + "\n".join("  " + line for line in
                                                             json.dumps([check]).splitlines())))
    played = Played(rollouts or {})
    played.stations = stations or {}
    ctx = checks.Context(sc, {}, Recorded(events), lambda _s: "", played)
    (c,) = sc.checks
    return ota_checks.JUDGES[c.kind](c, ctx).passed


BIRTHS = {"pq-air-15": [{"ev": "birth", "fw": "1.0.0"},
                        {"ev": "ota", "state": "staged", "ver": "1.1.0"},
                        {"ev": "birth", "fw": "1.1.0"}]}


def test_the_ota_judges_fail_on_what_did_not_happen(tmp_path):
    from fwtools.fwrollout import Result

    runs = {"what": "x", "firmware": {"station": "pq-air-15", "runs": "1.1.0"}}
    assert judged(tmp_path, runs, BIRTHS)
    runs["firmware"]["runs"] = "1.0.0"  # it ran 1.0.0 once, but not last
    assert not judged(tmp_path, runs, BIRTHS)
    never = {"what": "x", "firmware": {"station": "pq-air-15", "never_ran": "1.1.0"}}
    assert not judged(tmp_path, never, BIRTHS)
    staged_only = {"pq-air-15": BIRTHS["pq-air-15"][:2]}  # installed, the restart not seen
    assert not judged(tmp_path, never, staged_only)
    good = {"what": "x", "ota": {"station": "pq-air-15", "state": "staged", "ver": "1.1.0"},
            "max": 0}
    assert not judged(tmp_path, good, BIRTHS)
    halted = Result("1.1.0", [["pq-air-15"], ["pq-air-16"]], halted=True,
                    why="pq-air-15: rolled_back: no healthy run", staged=["pq-air-15"])
    rollout = {"what": "x", "rollout": {"id": "all", "outcome": "halted",
                                        "staged": ["pq-air-15"], "why": "^pq-air-15: rolled"}}
    assert judged(tmp_path, rollout, {}, {"all": halted})
    rollout["rollout"]["staged"] = ["pq-air-15", "pq-air-16"]
    assert not judged(tmp_path, rollout, {}, {"all": halted})
    assert not judged(tmp_path, rollout, {}, {})  # the rollout never ran


def test_the_slot_judge_wants_the_flash_and_the_last_birth_to_agree(tmp_path):
    """`slot` passes when ota/active names it and the station's last birth says it runs it:
    a birth from the other slot (or one without `slot`, older firmware) fails it."""
    from types import SimpleNamespace

    (tmp_path / "st" / "ota").mkdir(parents=True)
    (tmp_path / "st" / "ota" / "active").write_text("b\n")
    stations = {"pq-air-15": SimpleNamespace(dir=tmp_path / "st")}
    check = {"what": "x", "firmware": {"station": "pq-air-15", "slot": "b"}}

    def births(*slots: str | None) -> dict:
        return {"pq-air-15": [{"ev": "birth", "fw": "1.0.0", **({"slot": s} if s else {})}
                              for s in slots]}

    assert judged(tmp_path, check, births("a", "b"), stations=stations)
    assert not judged(tmp_path, check, births("b", "a"), stations=stations)
    assert not judged(tmp_path, check, births("b", None), stations=stations)
    assert not judged(tmp_path, check, births("a", "b"))  # no flash to read
