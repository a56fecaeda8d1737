"""The broker's accounts for firmware updates: a station reads only its own update topics (the
wanted version and its chunks), can publish none of them, and only the operator publishes
them. Against the project's real Mosquitto and its dynamic-security accounts."""

from __future__ import annotations

import uuid

import pytest
from test_services import peers, station_password, wait_for  # noqa: F401 (peers: fixture)

import boards

pytestmark = [pytest.mark.services]


def test_a_station_reads_only_its_own_update_topics(services, peers):  # noqa: F811
    a, b = boards.registry().ids()[:2]
    station = peers(services, a, station_password(services, a))
    assert not station.subscribe(f"quantrac/v1/{a}/fw")[0].is_failure
    assert not station.subscribe(f"quantrac/v1/{a}/fw/7")[0].is_failure
    # Mosquitto 2.0 grants a 3.1.1 subscription it will not serve; the ACL bites on delivery.
    station.subscribe(f"quantrac/v1/{b}/fw")
    station.subscribe(f"quantrac/v1/{b}/fw/7")
    operator = peers(services, services["QUANTRAC_MQTT_OPERATOR_USER"],
                     services["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    mark = uuid.uuid4().hex
    for st in (b, a):
        operator.publish(f"quantrac/v1/{st}/fw", f"{mark}-want-{st}")
        operator.publish(f"quantrac/v1/{st}/fw/7", f"{mark}-chunk-{st}")
    wait_for(lambda: {f"{mark}-want-{a}".encode(), f"{mark}-chunk-{a}".encode()}
             <= station.payloads(), what="A's own update messages")
    assert not {f"{mark}-want-{b}".encode(), f"{mark}-chunk-{b}".encode()} & station.payloads()


def test_a_station_cannot_publish_an_update_even_to_itself(services, peers):  # noqa: F811
    a = boards.registry().ids()[0]
    watcher = peers(services, services["QUANTRAC_MQTT_OPERATOR_USER"],
                    services["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    watcher.subscribe(f"quantrac/v1/{a}/fw/#")
    station = peers(services, a, station_password(services, a))
    mark = uuid.uuid4().hex
    for topic in (f"quantrac/v1/{a}/fw", f"quantrac/v1/{a}/fw/0"):
        station.publish(topic, f"{mark}-forged")  # acknowledged, dropped by the ACL
    operator_mark = f"{mark}-real"
    watcher.publish(f"quantrac/v1/{a}/fw/9", operator_mark)
    wait_for(lambda: operator_mark.encode() in watcher.payloads(), what="the operator's chunk")
    assert f"{mark}-forged".encode() not in watcher.payloads()
    watcher.publish(f"quantrac/v1/{a}/fw/9", "")  # clear the retained chunk
