"""The broker as an attacker holding one station's flash would try it: that station's password
may log in only under the station's own client id, so it can neither take over the collector's
persistent session (and the readings queued in it) nor another station's (and its queued
commands); nothing larger than the largest legitimate message gets through; the tools that
publish station messages do it with accounts of their own, which may do nothing else."""

from __future__ import annotations

import uuid

import pytest
from test_services import collector_login, peers, station_password, wait_for  # noqa: F401

import boards
from collector.services import dynsec, mosquitto


def operator_login(env: dict) -> tuple[str, str]:
    return env["QUANTRAC_MQTT_OPERATOR_USER"], env["QUANTRAC_MQTT_OPERATOR_PASSWORD"]


@pytest.mark.services
def test_a_station_password_takes_over_no_other_session(services, peers):  # noqa: F811
    env = services
    a, b = boards.registry().ids()[:2]
    mark = uuid.uuid4().hex
    session = f"quantrac-collector-{mark[:8]}"
    offline = peers(env, *collector_login(env), client_id=session, clean_session=False)
    assert not offline.subscribe("quantrac/v1/#")[0].is_failure
    offline.close()
    board_b = peers(env, b, station_password(env, b), clean_session=False)
    assert board_b.client._client_id.decode() == b
    assert not board_b.subscribe(f"quantrac/v1/{b}/cmd")[0].is_failure
    board_b.close()
    live = peers(env, *collector_login(env))
    live.subscribe("quantrac/v1/#")

    board_a = peers(env, a, station_password(env, a))
    board_a.publish(f"quantrac/v1/{a}/data", f"{mark}-reading")
    board_a.close()
    peers(env, *operator_login(env)).publish(f"quantrac/v1/{b}/cmd", f"{mark}-command")
    wait_for(lambda: f"{mark}-reading".encode() in live.payloads(), what="the live reading")

    for login in (a, a + mosquitto.COMMISSION_SUFFIX):
        for stolen in (session, "quantrac-collector", "quantrac-collector-alerts", b, a + "x"):
            attacker = peers(env, login, station_password(env, a), client_id=stolen,
                             clean_session=False)
            assert not attacker.accepted, f"{login} logged in as {stolen!r}"
    assert live.disconnects == 0, "the live collector was kicked off"

    back = peers(env, *collector_login(env), client_id=session, clean_session=False)
    assert back.session_present
    wait_for(lambda: f"{mark}-reading".encode() in back.payloads(),
             what="the reading queued for the collector's session")
    board_b = peers(env, b, station_password(env, b), clean_session=False)
    assert board_b.session_present
    wait_for(lambda: f"{mark}-command".encode() in board_b.payloads(),
             what="the command queued for station b")


@pytest.mark.services
def test_replay_and_bench_accounts_publish_station_messages_and_nothing_else(services,
                                                                            peers):  # noqa: F811
    env = services
    a = boards.registry().ids()[0]
    mark = uuid.uuid4().hex
    operator = peers(env, *operator_login(env))
    operator.subscribe("quantrac/v1/#")
    board = peers(env, a, station_password(env, a))
    board.subscribe(f"quantrac/v1/{a}/cmd")
    for key in ("REPLAY", "BENCH"):
        tool = peers(env, env[f"QUANTRAC_MQTT_{key}_USER"], env[f"QUANTRAC_MQTT_{key}_PASSWORD"])
        assert tool.accepted
        tool.publish(f"quantrac/v1/{a}/cmd", f"{mark}-{key}-forged")
        tool.publish(f"quantrac/v1/alerts/{a}", f"{mark}-{key}-forged")
        # last, as a sentinel: the operator (subscribed to everything) gets one client's
        # messages in order, so a forged one let through would be there before it
        tool.publish(f"quantrac/v1/{a}/data", f"{mark}-{key}-data")
        wait_for(lambda k=key: f"{mark}-{k}-data".encode() in operator.payloads(),
                 what=f"the {key} account's station message")
    forged = {p for p in operator.payloads() | board.payloads() if b"forged" in p}
    assert not forged


@pytest.mark.services
def test_a_payload_over_the_packet_limit_reaches_no_subscriber(services, peers):  # noqa: F811
    env = services
    a = boards.registry().ids()[0]
    listener = peers(env, *collector_login(env))
    listener.subscribe(f"quantrac/v1/{a}/#")
    board = peers(env, a, station_password(env, a))
    board.client.publish(f"quantrac/v1/{a}/data", b"x" * (30 << 20), qos=1)
    wait_for(lambda: board.disconnects > 0, timeout=60, what="the broker to drop the sender")
    largest = b"{" + b" " * (mosquitto.MAX_PACKET_BYTES - 2048) + b"}"
    board = peers(env, a, station_password(env, a))
    board.publish(f"quantrac/v1/{a}/data", largest)  # the largest legitimate size still passes
    wait_for(lambda: largest in listener.payloads(), what="the largest legitimate message")
    assert max(len(p) for p in listener.payloads()) < mosquitto.MAX_PACKET_BYTES


def test_account_changes_are_the_smallest_set_of_commands():
    stations = {"pq-air-01": "pw1", "pq-air-02": "pw2"}
    services = {"broker-admin": "a", "collector": "c"}
    first = mosquitto.wanted(services, stations)
    current = dynsec.render(first)
    assert dynsec.commands(current, first) == []  # nothing changed: nobody is touched

    rotated = mosquitto.wanted(services, {**stations, "pq-air-02": "new"})
    assert [(c["command"], c["username"]) for c in dynsec.commands(current, rotated)] == [
        ("setClientPassword", "pq-air-02"), ("setClientPassword", "pq-air-02.commission")]

    removed = mosquitto.wanted(services, {"pq-air-01": "pw1"})
    cmds = dynsec.commands(current, removed)
    assert {(c["command"], c.get("username") or c.get("rolename")) for c in cmds} == {
        ("deleteClient", "pq-air-02"), ("deleteClient", "pq-air-02.commission"),
        ("deleteRole", "station-pq-air-02")}

    added = mosquitto.wanted(services, {**stations, "pq-air-03": "pw3"})
    cmds = dynsec.commands(current, added)
    assert cmds[0] == {"command": "createRole", "rolename": "station-pq-air-03"}
    made = [c for c in cmds if c["command"] == "createClient"]
    assert [(c["username"], c["clientid"]) for c in made] == [
        ("pq-air-03", "pq-air-03"), ("pq-air-03.commission", "pq-air-03.commission")]
    assert all(c["password"] == "pw3" for c in made)


@pytest.mark.services
def test_only_the_operator_may_answer_alerts(services, peers):  # noqa: F811
    """An acknowledgement or a silence is a person's: a station holding its own password (or
    the collector's) cannot acknowledge its alerts away or silence itself."""
    env = services
    a = boards.registry().ids()[0]
    mark = uuid.uuid4().hex
    topic = f"quantrac/v1/{a}/answer"
    listener = peers(env, *collector_login(env))
    listener.subscribe(topic)
    board = peers(env, a, station_password(env, a))
    assert board.accepted
    board.publish(topic, f"{mark}-station-forged")
    peers(env, *collector_login(env)).publish(topic, f"{mark}-collector-forged")
    for key in ("REPLAY", "BENCH"):
        peers(env, env[f"QUANTRAC_MQTT_{key}_USER"],
              env[f"QUANTRAC_MQTT_{key}_PASSWORD"]).publish(topic, f"{mark}-{key}-forged")
    # last, as a sentinel: the operator's answer arrives, so the forged ones had their chance
    peers(env, *operator_login(env)).publish(topic, f"{mark}-operator")
    wait_for(lambda: f"{mark}-operator".encode() in listener.payloads(),
             what="the operator's answer")
    assert not {p for p in listener.payloads() if b"forged" in p}
