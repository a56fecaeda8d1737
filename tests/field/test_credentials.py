"""`quantrac station credentials` against the real Mosquitto: a new station gets an account that
works at once, speaks only for itself, and can reach the broker over TLS with its certificate.

Accounts of registry stations are checked in tests/collector/test_services.py (anonymous and
wrong passwords refused, no publishing as another station, no reading another's commands) and
the collector's refusal of a payload whose station differs from its topic in
tests/collector/test_collector_pipeline.py; these tests do the same for a station added in the
field, through the commands a technician uses.
"""

from __future__ import annotations

import json
import ssl
import stat
import uuid
from pathlib import Path

import pytest
from bench import Peer, wait_for
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from collector import services as svc
from collector.services import dynsec, mosquitto, ports
from quantrac.cli import main

NEW = "pq-air-17"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def add_station(registry: Path) -> None:
    res = run("station", "new", NEW, "--name", "Gành Dầu", "--profile", "air-standard",
              "--lat", 10.375, "--lon", 103.845, "--registry", registry)
    assert res.exit_code == 0, res.output


def peer(env: dict, user: str | None, password: str | None, made: list) -> Peer:
    p = Peer(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]), user, password)
    made.append(p)
    return p


@pytest.fixture
def peers():
    made: list[Peer] = []
    yield made
    for p in made:
        p.close()


def secrets_of(run_dir: Path, station: str) -> dict:
    return json.loads((run_dir / "field" / station / "secrets.json").read_text())


@pytest.mark.services
def test_a_new_station_logs_in_at_once_and_only_as_itself(stack, run_dir, registry_copy, peers):
    add_station(registry_copy)
    res = run("station", "credentials", NEW, "--registry", registry_copy, "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    assert "broker reloaded" in res.output

    secrets_file = run_dir / "field" / NEW / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    password = secrets_of(run_dir, NEW)["mqtt"]["password"]
    assert json.loads(Path(stack["QUANTRAC_STATION_SECRETS"]).read_text())[NEW] == password
    accounts = (run_dir / "mosquitto" / "dynamic-security.json").read_text()
    assert password not in accounts
    entry = next(c for c in json.loads(accounts)["clients"] if c["username"] == NEW)
    assert dynsec.password_matches(password, entry) and entry["clientid"] == NEW

    collector = peer(stack, stack["QUANTRAC_MQTT_COLLECTOR_USER"],
                     stack["QUANTRAC_MQTT_COLLECTOR_PASSWORD"], peers)
    collector.subscribe("quantrac/v1/#")
    a = peer(stack, NEW, password, peers)
    assert not a.refused
    assert peer(stack, None, None, peers).refused
    assert peer(stack, NEW, password + "x", peers).refused

    mark = uuid.uuid4().hex
    a.subscribe("quantrac/v1/pq-air-01/cmd")
    a.subscribe("quantrac/v1/pq-air-01/config")
    a.subscribe(f"quantrac/v1/{NEW}/cmd")
    for topic in ("quantrac/v1/pq-air-01/data", "quantrac/v1/pq-air-01/status",
                  f"quantrac/v1/alerts/{NEW}", f"quantrac/v1/{NEW}/cmd"):
        a.publish(topic, f"{mark}-forged")
    a.publish(f"quantrac/v1/{NEW}/data", f"{mark}-own")
    operator = peer(stack, stack["QUANTRAC_MQTT_OPERATOR_USER"],
                    stack["QUANTRAC_MQTT_OPERATOR_PASSWORD"], peers)
    operator.publish("quantrac/v1/pq-air-01/cmd", f"{mark}-for-01")
    operator.publish("quantrac/v1/pq-air-01/config", f"{mark}-for-01")
    operator.publish(f"quantrac/v1/{NEW}/cmd", f"{mark}-for-17")
    wait_for(lambda: f"{mark}-own".encode() in collector.payloads(), "the station's own data")
    wait_for(lambda: f"{mark}-for-17".encode() in a.payloads(), "the station's own command")
    assert f"{mark}-forged".encode() not in collector.payloads() | operator.payloads()
    assert f"{mark}-for-01".encode() not in a.payloads()


@pytest.mark.services
def test_an_account_from_another_registry_outlives_services_up(stack, run_dir, registry_copy,
                                                               peers):
    # `services up` runs at every server start; it must not drop a station whose account
    # came from a registry other than the default one (its flashed password would be void)
    add_station(registry_copy)
    res = run("station", "credentials", NEW, "--registry", registry_copy, "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    password = secrets_of(run_dir, NEW)["mqtt"]["password"]
    env = svc.up(run_dir)
    assert json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())[NEW] == password
    assert not peer(env, NEW, password, peers).refused

    registry_copy.rename(registry_copy.with_suffix(".moved"))
    with pytest.raises(svc.ServicesError, match=r"island\.json .* cannot be read"):
        svc.up(run_dir)  # says which registry, instead of revoking its stations' accounts
    assert json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())[NEW] == password


@pytest.mark.services
def test_rotating_a_password_locks_out_the_old_one(stack, run_dir, peers):
    station = "pq-air-05"  # a registry station: `services up` made its account
    old = json.loads(Path(stack["QUANTRAC_STATION_SECRETS"]).read_text())[station]
    res = run("station", "credentials", station, "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    assert secrets_of(run_dir, station)["mqtt"]["password"] == old  # kept, not regenerated
    res = run("station", "credentials", station, "--rotate", "--run-dir", run_dir,
              "--wifi-password", "island-wifi")
    assert res.exit_code == 0, res.output
    new = secrets_of(run_dir, station)
    assert new["mqtt"]["password"] != old and new["wifi"] == {"password": "island-wifi"}
    assert peer(stack, station, old, peers).refused
    assert not peer(stack, station, new["mqtt"]["password"], peers).refused


@pytest.mark.services
def test_credentials_made_before_the_services_ran_are_the_ones_they_start_with(run_dir, peers):
    res = run("station", "credentials", "pq-air-05", "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    assert "no broker was ever started" in res.output
    password = secrets_of(run_dir, "pq-air-05")["mqtt"]["password"]
    env = svc.up(run_dir)
    try:
        assert not peer(env, "pq-air-05", password, peers).refused
    finally:
        for p in peers:
            p.close()
        peers.clear()
        svc.down(run_dir)


@pytest.mark.services
def test_credentials_for_a_station_not_in_the_registry_are_refused(stack, run_dir):
    res = run("station", "credentials", NEW, "--run-dir", run_dir)
    assert res.exit_code != 0 and f"unknown station '{NEW}'" in res.output


def pem_files(run_dir: Path, station: str, out: Path) -> dict:
    """The board's DER files as the PEM paho wants, plus the broker's CA."""
    d = run_dir / "field" / station / "tls"
    cert = x509.load_der_x509_certificate((d / "client.der").read_bytes())
    key = serialization.load_der_private_key((d / "client.key.der").read_bytes(), None)
    (out / "client.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (out / "client.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == station
    return {"ca_certs": str(run_dir / "mosquitto" / "tls" / "ca.crt"),
            "certfile": str(out / "client.pem"), "keyfile": str(out / "client.key")}


@pytest.mark.services
def test_tls_listener_takes_a_station_with_its_certificate_and_password(stack, run_dir,
                                                                        tmp_path, peers):
    station = "pq-air-03"
    res = run("station", "credentials", station, "--tls", "--run-dir", run_dir)
    assert res.exit_code == 0, res.output
    assert "broker restarted" in res.output  # a new listener needs a restart, not a SIGHUP
    port = mosquitto.tls_port(mosquitto.Layout(run_dir))
    assert port and f"TLS listener on port {port}" in res.output
    tls = pem_files(run_dir, station, tmp_path)
    password = secrets_of(run_dir, station)["mqtt"]["password"]
    host = stack["QUANTRAC_MQTT_HOST"]

    collector = peer(stack, stack["QUANTRAC_MQTT_COLLECTOR_USER"],
                     stack["QUANTRAC_MQTT_COLLECTOR_PASSWORD"], peers)  # plain listener
    collector.subscribe(f"quantrac/v1/{station}/#")
    over_tls = Peer(host, port, station, password, tls=tls)
    peers.append(over_tls)
    assert not over_tls.refused
    mark = uuid.uuid4().hex
    over_tls.publish(f"quantrac/v1/{station}/data", mark)
    wait_for(lambda: mark.encode() in collector.payloads(), "data sent over TLS")

    for user, pw in ((station, password + "x"), (None, None)):
        refused = Peer(host, port, user, pw, tls=tls)
        peers.append(refused)
        assert refused.refused, f"{user!r} got in over TLS"
    with pytest.raises((ssl.SSLError, OSError)):
        Peer(host, port, station, password, tls={"ca_certs": tls["ca_certs"]})  # no certificate

    again = run("station", "credentials", station, "--tls", "--run-dir", run_dir)
    assert again.exit_code == 0 and "broker restarted" not in again.output
    assert mosquitto.tls_port(mosquitto.Layout(run_dir)) == port

    # the field: the listener on the address the stations reach, kept for later runs
    bad = run("station", "credentials", station, "--tls", "--tls-listen", "everywhere:8883",
              "--run-dir", run_dir)
    assert bad.exit_code == 2 and "ADDRESS:PORT" in bad.output
    field_port = ports.free_port()
    moved = run("station", "credentials", station, "--tls", "--tls-listen",
                f"127.0.0.1:{field_port}", "--run-dir", run_dir)
    assert moved.exit_code == 0 and "broker restarted" in moved.output, moved.output
    assert f"listener {field_port} 127.0.0.1" in (run_dir / "mosquitto" / "mosquitto.conf"
                                                  ).read_text()
    moved_peer = Peer(host, field_port, station, password, tls=tls)
    peers.append(moved_peer)
    assert not moved_peer.refused
    assert mosquitto.tls_port(mosquitto.Layout(run_dir)) == field_port
    port = field_port

    # the station's build then points its firmware at the TLS listener and the flashed files
    built = run("station", "build", station, "--run-dir", run_dir,
                "--build-root", tmp_path / "build")
    assert built.exit_code == 0, built.output
    cfg = json.loads((run_dir / "field" / station / "config.json").read_text())
    assert (cfg["mqtt"]["tls"], cfg["mqtt"]["port"]) == ("tls", port)
    assert "tls/ca.der" in built.output and "tls/client.key.der" in built.output
