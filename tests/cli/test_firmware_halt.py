"""`quantrac firmware halt`: a staged version is withdrawn by hand, so a station that connects
later reads no bundle to apply (against the project's broker)."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

from quantrac import fwbuild, fwbundle
from quantrac.cli import main
from quantrac.fwpublish import Operator, stage

pytestmark = [pytest.mark.services]

STATION = "pq-sea-02"  # no other test stages it


def retained(env: dict, topic: str) -> bytes | None:
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"], env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    c.on_connect = lambda cl, *a: cl.subscribe(topic, 1)
    c.on_message = lambda cl, u, m: (got.append(m.payload), done.set())
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    done.wait(3)  # nothing retained: no message at all
    c.loop_stop()
    c.disconnect()
    return got[0] if got else None


def test_halt_withdraws_a_staged_version_and_its_chunks(services, session_run_dir, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("QUANTRAC_RUN_DIR", str(session_run_dir))
    build = fwbuild.build("unix", tmp_path / "b")
    fwbundle.keygen(tmp_path / "k.pem")
    b = fwbundle.make(build.folder, "3.0.0", tmp_path / "k.pem")
    with Operator(services) as op:
        stage(op, [STATION], b)
    topic = f"quantrac/v1/{STATION}/fw"
    assert json.loads(retained(services, topic))["ver"] == "3.0.0"
    r = CliRunner().invoke(main, ["firmware", "halt", "--stations", STATION, "--chunks",
                                  str(len(fwbundle.chunks(b)))])
    assert r.exit_code == 0, r.output
    assert f"{STATION}: wanted" in r.output
    after = retained(services, topic)
    assert after is None or json.loads(after)["ver"] != "3.0.0"
    assert retained(services, f"{topic}/0") is None  # the chunks are gone
