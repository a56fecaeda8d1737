"""`quantrac fleet …` against the project's broker and database, with two unix-port air
stations flashed for OTA (1.0.0 in slot a) and the real collector storing their events:
one module-scoped run publishes 1.0.0 and 1.1.0, rolls 1.1.0 out (canary, then the rest),
reads `fleet status`, rolls back to 1.0.0 and reads it again; the tests assert on what it
recorded. Bad input is refused before anything reaches the broker."""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

import boards
from collector.config import Settings, with_options
from collector.pipeline import Collector
from collector.services.state import format_env
from fwtools import fwbuild, fwbundle, fwrollout
from fwtools.fwpublish import Operator, stage
from hil.station import SimulatedStation
from quantrac.bench.ota import Station
from quantrac.cli import main
from quantrac_common import influxql

pytestmark = [pytest.mark.services, pytest.mark.slow]

CANARY, OTHER = "pq-air-05", "pq-air-06"  # no other test updates them
PAIR = f"{CANARY},{OTHER}"
IDLE = "pq-air-07"  # never runs here: bad input must leave its topics empty
WAIT_S = 180


def retained(env: dict, topic: str) -> bytes | None:
    got: list[bytes] = []
    done, subscribed = threading.Event(), threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"], env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    c.on_connect = lambda cl, *a: cl.subscribe(topic, 1)
    c.on_subscribe = lambda *a: subscribed.set()
    c.on_message = lambda cl, u, m: (got.append(m.payload), done.set())
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    assert subscribed.wait(10), "the broker did not answer the subscription"
    done.wait(0.5)  # a retained message follows the SUBACK at once; none: nothing retained
    c.loop_stop()
    c.disconnect()
    return got[0] if got and got[0] else None


def fw(station: str) -> str:
    return f"quantrac/v1/{station}/fw"


@pytest.fixture(scope="module")
def kit(services, tmp_path_factory):
    """A run folder (services.env, the signing key made by `firmware keygen`), the unix build
    and its bundle 1.0.0 as a file."""
    run = tmp_path_factory.mktemp("fleet-run")
    (run / "services.env").write_text(format_env(services))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANTRAC_RUN_DIR", str(run))
        out = CliRunner().invoke(main, ["firmware", "keygen"])
        assert out.exit_code == 0, out.output
    key = run / "secrets" / "firmware-signing.pem"
    build = fwbuild.build("unix", tmp_path_factory.mktemp("fleet-build"))
    v1 = fwbundle.make(build.folder, "1.0.0", key)
    qfw = fwbundle.write(v1, run / "out" / "unix-1.0.0.qfw")
    return {"run": run, "key": key, "build": build.folder, "v1": v1, "qfw": qfw,
            "pub": fwbundle.public_path(key).read_bytes()}


@pytest.fixture
def cli(kit, monkeypatch):
    monkeypatch.setenv("QUANTRAC_RUN_DIR", str(kit["run"]))

    def run(*args: str):
        return CliRunner().invoke(main, list(args))

    return run


def latest_ota(env: dict, station: str) -> tuple | None:
    rows = influxql.rows(influxql.query(
        env, "SELECT \"state\", \"ver\" FROM device WHERE message = 'ota' AND "
             f"station = '{station}' ORDER BY time DESC LIMIT 1"))
    return (rows[0]["state"], rows[0]["ver"]) if rows else None


def wait_stored(env: dict, version: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(latest_ota(env, st) == ("good", version) for st in (CANARY, OTHER)):
            return
        time.sleep(0.5)
    raise AssertionError(f"ota good {version} not stored: "
                         f"{[latest_ota(env, st) for st in (CANARY, OTHER)]}")


def wait_online(env: dict, version: str) -> None:
    watch = fwrollout.Watch(env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(watch.online.get(s) and watch.fw.get(s) == version for s in (CANARY, OTHER)):
                return
            time.sleep(0.2)
        raise AssertionError(f"not all online with {version}: {watch.fw} {watch.online}")
    finally:
        watch.close()


@pytest.fixture(scope="module")
def fleet_run(services, kit):
    """The whole story once; every CLI result and what the broker held in between."""
    env, run = services, kit["run"]
    rec: dict = {}
    reg = boards.registry()
    sims = {st: SimulatedStation(reg.get(st), env, run, sample_s=1, report_s=5)
            for st in (CANARY, OTHER)}
    stations: dict[str, Station] = {}
    settings = with_options(Settings.from_env(env, run_dir=run),
                            mqtt={"client_id": f"fleet-{uuid.uuid4().hex[:8]}"})
    collector = Collector(settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANTRAC_RUN_DIR", str(run))

        def cli(*args: str):
            return CliRunner().invoke(main, list(args))

        collector.start()
        try:
            for st, sim in sims.items():
                sim.prepare()
                fwbundle.install_board(sim.dir, kit["build"], kit["v1"], kit["pub"])
                stations[st] = Station(sim.dir)
            wait_online(env, "1.0.0")
            rec["publish1"] = cli("fleet", "publish", str(kit["qfw"]), "--stations", PAIR)
            rec["publish2"] = cli("fleet", "publish", str(kit["build"]), "--version", "1.1.0",
                                  "--stations", PAIR)
            rec["wanted_after_publish"] = retained(env, fw(CANARY))
            rec["chunk0_after_publish"] = retained(env, fw(OTHER) + "/0")
            rec["rollout"] = cli("fleet", "rollout", "1.1.0", "--canary", CANARY,
                                 "--stages", "50%,100%", "--stations", PAIR,
                                 "--timeout", str(WAIT_S))
            wait_stored(env, "1.1.0")
            rec["status_new"] = cli("fleet", "status", "--stations", PAIR, "--json")
            rec["rollback"] = cli("fleet", "rollback", "--stations", PAIR,
                                  "--timeout", str(WAIT_S))
            wait_online(env, "1.0.0")
            wait_stored(env, "1.0.0")
            rec["status_back"] = cli("fleet", "status", "--stations", PAIR, "--json")
            rec["table"] = cli("fleet", "status", "--stations", PAIR)
            rec["record"] = json.loads((run / "firmware" / "fleet.json").read_text())
            rec["logs"] = {st: s.log()[-3000:] for st, s in stations.items()}
        finally:
            for s in stations.values():
                s.stop()
            for sim in sims.values():
                sim.stop()
            collector.stop()
            with Operator(env) as op:  # retained wanted versions and chunks outlive the run
                fwrollout.halt(op, [CANARY, OTHER], {}, len(fwbundle.chunks(kit["v1"])) + 5)
    return rec


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_fleet_publish_stages_the_chunks_and_tells_no_station(fleet_run, kit):
    assert "published 1.0.0" in ok(fleet_run["publish1"])
    out = ok(fleet_run["publish2"])  # a build folder: signed here with --version
    assert "published 1.1.0" in out and "no station takes it" in out
    assert fleet_run["wanted_after_publish"] is None  # nobody was told to take it
    v2 = fwbundle.verify((kit["run"] / "firmware" / "bundles" / "1.1.0.qfw").read_bytes(),
                         kit["pub"])
    assert fleet_run["chunk0_after_publish"] == fwbundle.chunks(v2)[0]


def test_fleet_rollout_updates_the_canary_first_then_the_stage(fleet_run):
    out = ok(fleet_run["rollout"])
    lines = out.splitlines()
    assert lines[0] == f"stage 0 (canary): {CANARY}", out
    assert lines.index(f"  {CANARY}: 1.1.0 healthy") < lines.index(f"stage 1 (1 stations): {OTHER}")
    assert "rollout of 1.1.0 complete: 2 stations healthy" in out
    rows = {r["station"]: r for r in json.loads(ok(fleet_run["status_new"]))}
    for st in (CANARY, OTHER):
        assert rows[st]["version"] == "1.1.0" and rows[st]["online"] is True, rows[st]
        assert (rows[st]["update"], rows[st]["update_version"]) == ("good", "1.1.0")
        # the slot its birth after the switch names: 1.1.0 went into the other slot
        assert rows[st]["slot"] == "b" and rows[st]["wanted"] == "1.1.0"


def test_fleet_rollback_takes_a_station_on_the_new_version_back_to_the_previous(fleet_run):
    out = ok(fleet_run["rollback"])
    assert out.startswith("rollback: 1.1.0 -> 1.0.0"), out
    assert f"  {CANARY}: 1.0.0 healthy" in out and f"  {OTHER}: 1.0.0 healthy" in out
    rows = {r["station"]: r for r in json.loads(ok(fleet_run["status_back"]))}
    for st in (CANARY, OTHER):
        # it ran 1.1.0 and reports 1.0.0: forced, the lower version was installed
        assert rows[st]["version"] == "1.0.0", (rows[st], fleet_run["logs"][st])
        assert (rows[st]["update"], rows[st]["update_version"]) == ("good", "1.0.0")
        assert rows[st]["boot"] and rows[st]["update_at"] and rows[st]["boot_at"]
        assert rows[st]["slot"] == "a"  # installed into the slot 1.1.0 was not in
    assert fleet_run["record"]["good"] == ["1.0.0"]
    assert fleet_run["record"]["withdrawn"] == ["1.1.0"]


def test_fleet_status_table_names_each_station_its_version_and_boot_reason(fleet_run):
    lines = ok(fleet_run["table"]).splitlines()
    assert lines[0].split() == ["station", "online", "version", "slot", "wanted", "last",
                                "update", "when", "boot", "reason"]
    rows = {line.split()[0]: line for line in lines[1:3]}
    status = {r["station"]: r for r in json.loads(fleet_run["status_back"].output)}
    for st in (CANARY, OTHER):
        cells = rows[st].split()
        assert cells[1:6] == ["yes", "1.0.0", "a", "1.0.0", "good"], rows[st]
        assert status[st]["boot"].split()[0] in cells
    assert lines[-1] == "versions: 1.0.0 x2"


# ---- bad input: a clear error, exit code != 0, nothing on the broker --------------------------

@pytest.mark.parametrize(("args", "says"), [
    (["rollout", "1.0.0", "--canary", IDLE, "--stages", "10%,5%"], "'5%' must grow"),
    (["rollout", "1.0.0", "--canary", IDLE, "--stages", "abc"], "'abc' is not a percentage"),
    (["rollout", "1.0.0", "--canary", IDLE, "--stages", "10%,50%"], "last stage must be 100%"),
    (["rollout", "abc", "--canary", IDLE], "version 'abc': must be numbers"),
    (["rollout", "9.9.9", "--canary", IDLE], "version '9.9.9' is not published"),
    (["rollout", "1.0.0", "--canary", "pq-air-99"], "--canary 'pq-air-99': not in the registry"),
    (["rollout", "1.0.0", "--canary", IDLE, "--stations", "pq-air-08"],
     "--canary 'pq-air-07' is not one of the stations"),
    (["rollout", "1.0.0", "--canary", IDLE, "--stations", f"{IDLE},pq-nowhere"],
     "--stations: not in the registry: pq-nowhere"),
    (["rollback", "--to", "9.9.9", "--stations", IDLE], "version '9.9.9' is not published"),
    (["status", "--stations", "pq-nowhere"], "--stations: not in the registry: pq-nowhere"),
    (["halt", "--stations", "pq-nowhere"], "--stations: not in the registry: pq-nowhere"),
])
def test_fleet_bad_input_is_refused_and_nothing_is_published(services, cli, args, says):
    r = cli("fleet", *args)
    assert r.exit_code != 0 and says in r.output, r.output
    assert retained(services, fw(IDLE)) is None and retained(services, fw(IDLE) + "/0") is None


def test_fleet_rollback_without_an_earlier_good_version_asks_for_one(kit, cli, tmp_path,
                                                                     monkeypatch):
    (tmp_path / "services.env").write_text((kit["run"] / "services.env").read_text())
    monkeypatch.setenv("QUANTRAC_RUN_DIR", str(tmp_path))
    r = CliRunner().invoke(main, ["fleet", "rollback", "--stations", IDLE])
    assert r.exit_code == 1 and "no earlier good version on record" in r.output, r.output


def test_fleet_publish_refuses_a_tampered_bundle_and_stores_nothing(services, kit, cli,
                                                                    tmp_path):
    blob = bytearray(kit["v1"].blob)
    blob[-100] ^= 0xFF
    bad = tmp_path / "tampered.qfw"
    bad.write_bytes(bytes(blob))
    r = cli("fleet", "publish", str(bad), "--stations", IDLE)
    assert r.exit_code == 1 and "refused: " in r.output and "sha256" in r.output, r.output
    assert retained(services, fw(IDLE) + "/0") is None
    record = kit["run"] / "firmware" / "fleet.json"
    published = json.loads(record.read_text())["published"] if record.exists() else {}
    assert published.get("1.0.0", {}).get("sha256", kit["v1"].sha256) == kit["v1"].sha256
    r = cli("fleet", "publish", str(kit["build"]), "--stations", IDLE)
    assert r.exit_code == 1 and "give --version" in r.output, r.output


def test_the_old_firmware_rollout_and_halt_name_their_new_commands(cli):
    r = cli("firmware", "rollout", "x.qfw", "--canary", IDLE)
    assert r.exit_code == 2 and "quantrac fleet rollout VERSION" in r.output, r.output
    r = cli("firmware", "halt")
    assert r.exit_code == 2 and "quantrac fleet halt" in r.output, r.output


def test_fleet_halt_withdraws_a_staged_version_so_publish_may_stage_again(services, kit, cli):
    """A version wanted but not yet run is an update under way: publish refuses to replace
    its chunks until `fleet halt` withdraws it (a station that connects later applies
    nothing)."""
    st = "pq-sea-02"  # no station runs it here
    b = fwbundle.make(kit["build"], "3.0.0", kit["key"])
    with Operator(services) as op:
        stage(op, [st], b)
    assert json.loads(retained(services, fw(st)))["ver"] == "3.0.0"
    r = cli("fleet", "publish", str(kit["qfw"]), "--stations", st)
    assert r.exit_code == 1 and f"an update is under way at {st} (wanted 3.0.0" in r.output, \
        r.output
    assert retained(services, fw(st) + "/0") == fwbundle.chunks(b)[0]  # not replaced
    r = cli("fleet", "halt", "--stations", st, "--chunks", str(len(fwbundle.chunks(b))))
    assert r.exit_code == 0 and f"{st}: wanted nothing" in r.output, r.output
    assert retained(services, fw(st)) is None  # withdrawn
    assert retained(services, fw(st) + "/0") is None  # the chunks are gone
    r = cli("fleet", "publish", str(kit["qfw"]), "--stations", st)
    assert r.exit_code == 0, r.output
    assert retained(services, fw(st)) is None  # published, still wanted by nobody
    r = cli("fleet", "halt", "--stations", st, "--chunks", str(len(fwbundle.chunks(b))))
    assert r.exit_code == 0


def test_fleet_rollout_that_nobody_answers_halts_and_leaves_nothing_to_apply(
        services, kit, tmp_path, monkeypatch):
    """A run folder of its own: a station that never reports halts the rollout at its
    timeout (exit 1), its wanted version and chunks are withdrawn and nothing is recorded
    good; a second build under a published version, or a stored bundle changed on disk, is
    refused."""
    st = "pq-air-08"  # no station runs it here
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for f in (kit["key"], fwbundle.public_path(kit["key"])):
        (secrets / f.name).write_bytes(f.read_bytes())
    (tmp_path / "services.env").write_text((kit["run"] / "services.env").read_text())
    monkeypatch.setenv("QUANTRAC_RUN_DIR", str(tmp_path))

    def cli(*args: str):
        return CliRunner().invoke(main, list(args))

    try:
        assert cli("fleet", "publish", str(kit["qfw"]), "--stations", st).exit_code == 0
        other = tmp_path / "other.qfw"
        fwbundle.write(fwbundle.make(kit["build"], "1.0.0", kit["key"], "1.22.1"), other)
        r = cli("fleet", "publish", str(other), "--stations", st)
        assert r.exit_code == 1 and "1.0.0 is already published as another build" in r.output
        assert retained(services, fw(st) + "/0") == fwbundle.chunks(kit["v1"])[0]
        r = cli("fleet", "rollout", "1.0.0", "--canary", st, "--stations", st,
                "--stages", "100%", "--timeout", "10")
        assert r.exit_code == 1, r.output
        assert f"halted at stage 0: {st}: not healthy within 10 s" in r.output
        assert retained(services, fw(st)) is None and retained(services, fw(st) + "/0") is None
        assert json.loads((tmp_path / "firmware" / "fleet.json").read_text())["good"] == []
        stored = tmp_path / "firmware" / "bundles" / "1.0.0.qfw"
        blob = bytearray(stored.read_bytes())
        blob[-100] ^= 0xFF
        stored.write_bytes(bytes(blob))
        r = cli("fleet", "rollout", "1.0.0", "--canary", st, "--stations", st,
                "--stages", "100%")
        assert r.exit_code == 1 and "refused: " in r.output, r.output
        assert retained(services, fw(st)) is None
    finally:
        cli("fleet", "halt", "--stations", st)


def test_fleet_status_without_the_database_says_so_and_shows_the_brokers_half(
        services, tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**services, "QUANTRAC_INFLUX_URL": f"http://127.0.0.1:{port}"}
    (tmp_path / "services.env").write_text(format_env(env))
    monkeypatch.setenv("QUANTRAC_RUN_DIR", str(tmp_path))
    with Operator(services) as op:  # a wanted version only the broker knows
        op.publish(fw(IDLE), json.dumps({"v": 1, "ver": "2.0.0"}).encode())
    try:
        r = CliRunner().invoke(main, ["fleet", "status", "--stations", IDLE, "--json"])
    finally:
        with Operator(services) as op:
            op.publish(fw(IDLE), b"")
    assert r.exit_code == 0, r.output
    assert "InfluxDB: " in r.stderr and "last update and boot reason unknown" in r.stderr
    (row,) = json.loads(r.stdout)
    assert row["station"] == IDLE and row["wanted"] == "2.0.0" and row["update"] is None


def test_fleet_status_slot_is_the_newest_births_and_guessed_for_older_firmware():
    """The slot a station's newest birth names (`-`: flashed without OTA, shown `none`); a
    birth without one (firmware before the birth said it) falls back to the guess from the
    `ota` events: `trial` while the staged version runs without its `good`."""
    from quantrac import fleetstatus

    staged = {"state": "staged", "ver": "1.1.0"}
    births = {"pq-air-05": {"fw": "1.1.0", "slot": "b"}, "pq-air-06": {"fw": "1.1.0"},
              "pq-air-07": {"fw": "0.1.0", "slot": "-"}}
    rows = fleetstatus.fleet(["pq-air-05", "pq-air-06", "pq-air-07", "pq-air-08"], {}, {},
                             {"pq-air-05": staged, "pq-air-06": staged}, births)
    assert [r.slot for r in rows] == ["b", "trial", "none", None]
