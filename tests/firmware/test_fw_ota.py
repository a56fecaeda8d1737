"""Over-the-air updates on the unix-port firmware, end to end through the project's Mosquitto:
the station runs its .mpy build from slot a (the first flash for OTA), the operator account
publishes a signed bundle as retained chunks and a wanted version, the station pulls it over
its own MQTT link, installs it into slot b, restarts on trial, and marks it good or rolls back.

A supervisor plays the power supply and restarts the process whenever it ends (exit code 3
asks for it after a switch; a crash is what an ESP32's reset would follow).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from fw_station import Subscriber
from test_fw_broker import STATION, firmware_config

from quantrac import fwbuild, fwbundle
from quantrac.bench.ota import Station, install
from quantrac.fwpublish import Operator, stage, want_version

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The unix build, a signing key, and bundles 1.0.0 (installed), 1.1.0 (good) and 1.2.0
    (its station/app.mpy raises at import)."""
    root = tmp_path_factory.mktemp("ota")
    build = fwbuild.build("unix", root / "build")
    pub = fwbundle.keygen(root / "sign.pem").read_bytes()
    broken = root / "broken"
    shutil.copytree(build.folder, broken)
    src = root / "boom.py"
    src.write_text("raise RuntimeError('new code fails at boot')\n")
    fwbuild.compile_module("unix", src, broken / "station" / "app.mpy", "station/app.mpy")
    return {"build": build.folder, "pub": pub, "key": root / "sign.pem",
            "v1": fwbundle.make(build.folder, "1.0.0", root / "sign.pem"),
            "v2": fwbundle.make(build.folder, "1.1.0", root / "sign.pem"),
            "bad": fwbundle.make(broken, "1.2.0", root / "sign.pem")}


@pytest.fixture
def station(services, sensors, kit, tmp_path):
    """The station flashed for OTA with 1.0.0 in slot a, running under its supervisor."""
    install(tmp_path, kit["build"], kit["v1"], kit["pub"])
    cfg = firmware_config(services, *sensors)
    cfg["fw"] = "9.9.9"  # config.json's is not what a bundle-installed station reports
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    run = Station(tmp_path)
    yield run
    run.stop()
    with Operator(services) as op:  # retained messages outlive the test: clear them
        want_version(op, [STATION], None)


@pytest.fixture
def subscriber(services):
    sub = Subscriber(services, f"quantrac/v1/{STATION}/#")
    yield sub
    sub.close()


def events(msgs: list, ev: str) -> list[dict]:
    out = []
    for topic, payload, _ in msgs:
        if topic == f"quantrac/v1/{STATION}/event":
            doc = json.loads(payload)
            if doc["ev"] == ev:
                out.append(doc)
    return out


def statuses(msgs: list) -> list[dict]:
    return [json.loads(p) for t, p, _ in msgs if t == f"quantrac/v1/{STATION}/status" and p]


def online_with(msgs: list, ver: str) -> bool:
    return any(s.get("online") and s.get("fw") == ver for s in statuses(msgs))


def test_ota_good_update_reaches_the_station_and_it_reports_the_new_version(
        services, kit, station, subscriber):
    msgs = subscriber.wait_for(lambda m: online_with(m, "1.0.0"), 30)
    assert online_with(msgs, "1.0.0"), station.log()  # fw from the installed bundle
    with Operator(services) as op:
        stage(op, [STATION], kit["v2"])
    msgs = subscriber.wait_for(
        lambda m: any(e["state"] == "good" for e in events(m, "ota")), 120)
    states = [e["state"] for e in events(msgs, "ota")]
    assert states[:3] == ["download", "staged", "good"], (states, station.log())
    assert online_with(msgs, "1.1.0"), station.log()
    assert station.exits == [3]  # one restart, asked for by the switch
    ota = station.folder / "ota"
    assert (ota / "active").read_text() == "b" and not (ota / "trial").exists()
    births = events(msgs, "birth")
    assert births[-1]["fw"] == "1.1.0"


def test_ota_new_code_that_raises_at_boot_rolls_back_and_is_reported(
        services, kit, station, subscriber):
    subscriber.wait_for(lambda m: online_with(m, "1.0.0"), 30)
    with Operator(services) as op:
        stage(op, [STATION], kit["bad"])
    msgs = subscriber.wait_for(
        lambda m: any(e["state"] == "rolled_back" for e in events(m, "ota")), 120)
    back = [e for e in events(msgs, "ota") if e["state"] == "rolled_back"]
    assert back and back[0]["ver"] == "1.2.0", station.log()
    assert back[0]["why"]
    # the switch (3), then three trial boots that raised, then the good slot again
    assert station.exits[0] == 3 and len(station.exits) == 4, station.exits
    assert all(code not in (0, 3) for code in station.exits[1:]), station.exits
    assert "new code fails at boot" in station.log()
    assert online_with(msgs[-20:] if len(msgs) > 20 else msgs, "1.0.0")
    assert (station.folder / "ota" / "active").read_text() == "a"
    # the wanted version is still 1.2.0: the station does not fetch it again
    time.sleep(3)
    later = [e for e in events(subscriber.snapshot(), "ota") if e["state"] == "download"]
    assert len(later) == 1


def test_ota_a_tampered_bundle_is_refused_and_the_running_version_stays(
        services, kit, station, subscriber):
    subscriber.wait_for(lambda m: online_with(m, "1.0.0"), 30)
    blob = bytearray(kit["v2"].blob)
    blob[-100] ^= 0xFF  # a byte of the last file: its sha256 no longer matches the manifest
    tampered = fwbundle.Bundle(kit["v2"].manifest, kit["v2"].manifest_bytes,
                               kit["v2"].signature, kit["v2"].files, bytes(blob))
    with Operator(services) as op:
        stage(op, [STATION], tampered)
    msgs = subscriber.wait_for(
        lambda m: any(e["state"] == "refused" for e in events(m, "ota")), 90)
    refused = [e for e in events(msgs, "ota") if e["state"] == "refused"]
    assert refused and "sha256 does not match the manifest" in refused[0]["why"], station.log()
    assert station.exits == []
    ota = station.folder / "ota"
    assert (ota / "active").read_text() == "a" and not (ota / "trial").exists()
    assert not (ota / "dl").exists()


def test_ota_a_bundle_signed_with_another_key_is_refused(services, kit, station, subscriber,
                                                         tmp_path_factory):
    subscriber.wait_for(lambda m: online_with(m, "1.0.0"), 30)
    other = tmp_path_factory.mktemp("other") / "k.pem"
    fwbundle.keygen(other)
    forged = fwbundle.make(kit["build"], "1.1.0", other)
    with Operator(services) as op:
        stage(op, [STATION], forged)
    msgs = subscriber.wait_for(
        lambda m: any(e["state"] == "refused" for e in events(m, "ota")), 90)
    refused = [e for e in events(msgs, "ota") if e["state"] == "refused"]
    assert refused and refused[0]["why"] == "signature does not match the manifest", \
        station.log()
    assert station.exits == [] and (station.folder / "ota" / "active").read_text() == "a"


def test_ota_a_lower_version_is_refused_unless_forced(services, kit, station, subscriber):
    subscriber.wait_for(lambda m: online_with(m, "1.0.0"), 30)
    older = fwbundle.make(kit["build"], "0.9.0", kit["key"])
    with Operator(services) as op:
        stage(op, [STATION], older)
    msgs = subscriber.wait_for(
        lambda m: any(e["state"] == "refused" for e in events(m, "ota")), 60)
    refused = [e for e in events(msgs, "ota") if e["state"] == "refused"]
    assert refused and refused[0]["why"] == "version 0.9.0 is lower than the running 1.0.0", \
        station.log()
    assert station.exits == [] and not (station.folder / "ota" / "dl").exists()
    # the operator means it (a deliberate rollback): forced, it is installed
    forced = fwbundle.make(kit["build"], "0.9.1", kit["key"])
    with Operator(services) as op:
        stage(op, [STATION], forced, force=True)
    msgs = subscriber.wait_for(
        lambda m: any(e["state"] == "good" for e in events(m, "ota")), 120)
    assert online_with(msgs, "0.9.1"), station.log()
