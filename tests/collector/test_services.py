"""Our own Mosquitto, InfluxDB and v2-write proxy, as real processes on free loopback ports.

Most tests share the session's services (tests/conftest.py); the ones that stop services use a
run folder of their own so the session's stack keeps running.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import pwd
import signal
import stat
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

import boards
from collector import services as svc
from collector.services import procs
from collector.services.credentials import RESERVED_MQTT_USERS
from collector.services.state import BENCH_ENV_KEYS
from quantrac.cli import main as cli

WAIT_S = 30.0
BURST = 100_000


def wait_for(predicate, timeout: float = WAIT_S, what="condition") -> None:
    """Poll `predicate`; `what` (a string, or a callable for a message made at the timeout)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)


def collector_login(env: dict) -> tuple[str, str]:
    return env["QUANTRAC_MQTT_COLLECTOR_USER"], env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"]


def station_password(env: dict, station: str) -> str:
    return json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())[station]


def http_call(base: str, method: str, path: str, body: bytes | None = None,
              auth: tuple[str, str] | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=WAIT_S)
    hdrs = dict(headers or {})
    if auth:
        hdrs["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def influxql(env: dict, q: str, auth: tuple[str, str] | None) -> tuple[int, dict]:
    path = "/query?" + urlencode({"db": env["QUANTRAC_INFLUX_DB"], "q": q})
    status, body = http_call(env["QUANTRAC_INFLUX_URL"], "GET", path, auth=auth)
    return status, json.loads(body or b"{}")


def reader(env: dict) -> tuple[str, str]:
    return env["QUANTRAC_INFLUX_READ_USER"], env["QUANTRAC_INFLUX_READ_PASSWORD"]


def v2_write(env: dict, user: str, password: str, line: str, gzip: bool = False) -> None:
    with InfluxDBClient(url=env["QUANTRAC_INFLUX_WRITE_URL"], token=f"{user}:{password}",
                        org="-", enable_gzip=gzip) as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=f"{env['QUANTRAC_INFLUX_DB']}/autogen", record=line,
            write_precision=WritePrecision.S)


def values_for(env: dict, station: str) -> list:
    status, doc = influxql(env, f"SELECT \"value\" FROM \"reading\" WHERE \"station\" = "
                                f"'{station}'", reader(env))
    assert status == 200, doc
    series = doc["results"][0].get("series") or [{}]
    return series[0].get("values") or []


class Peer:
    """A paho 2 client with its network thread running; records what it receives."""

    def __init__(self, env: dict, user: str | None, password: str | None,
                 client_id: str | None = None, clean_session: bool = True) -> None:
        # A station logs in only under its own id; a service under any id of its own.
        default = user if user and user not in RESERVED_MQTT_USERS else f"t-{uuid.uuid4().hex[:12]}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or default,
                                  clean_session=clean_session, protocol=mqtt.MQTTv311)
        self.disconnects = 0
        self.client.on_disconnect = lambda *_a: setattr(self, "disconnects",
                                                        self.disconnects + 1)
        if user is not None:
            self.client.username_pw_set(user, password)
        self.connack = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.session_present = False
        self.received: list[tuple[str, bytes]] = []
        self.subacks: dict[int, list] = {}
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subacks.__setitem__(mid, codes)
        self.env = env

    @property
    def accepted(self) -> bool:
        return not self.reason.is_failure

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.reason, self.session_present = reason_code, flags.session_present
        self.connack.set()
        if reason_code.is_failure:
            client.disconnect()  # no automatic retries with a refused password

    def connect(self) -> Peer:
        self.client.connect(self.env["QUANTRAC_MQTT_HOST"], int(self.env["QUANTRAC_MQTT_PORT"]))
        self.client.loop_start()
        assert self.connack.wait(WAIT_S), "no CONNACK"
        return self

    def subscribe(self, topic: str) -> list:
        _, mid = self.client.subscribe(topic, qos=1)
        wait_for(lambda: mid in self.subacks, what=f"SUBACK for {topic}")
        return self.subacks[mid]

    def publish(self, topic: str, payload: str) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)
        assert info.is_published(), f"no PUBACK for {topic}"

    def payloads(self) -> set[bytes]:
        return {p for _, p in self.received}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def private_services(run_dir):
    """A stack of its own: a 100,000-message burst must not reach the session's subscribers."""
    try:
        yield svc.up(run_dir)
    finally:
        svc.down(run_dir)


@pytest.fixture
def peers():
    made: list[Peer] = []

    def make(env, user, password, **kw) -> Peer:
        peer = Peer(env, user, password, **kw)
        made.append(peer)
        return peer.connect()

    yield make
    for peer in made:
        peer.close()


@pytest.mark.services
def test_second_up_starts_nothing_and_keeps_ports_pids_and_passwords(services, session_run_dir):
    before = svc.status(session_run_dir)
    again = svc.up(session_run_dir)
    assert again == services
    assert svc.status(session_run_dir) == before
    assert all(row["running"] for row in before)
    assert svc.load_env(session_run_dir) == services


@pytest.mark.services
def test_env_file_and_station_secrets_are_private_and_complete(services, session_run_dir):
    env_file = session_run_dir / "services.env"
    keys = [line.split("=", 1)[0] for line in env_file.read_text().splitlines()]
    # the session's stack is a throwaway one: it has the bench account too
    assert keys == [*svc.ENV_KEYS, *BENCH_ENV_KEYS]
    secrets = Path(services["QUANTRAC_STATION_SECRETS"])
    for path in (env_file, secrets):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert sorted(json.loads(secrets.read_text())) == sorted(boards.registry().ids())


@pytest.mark.services
def test_status_reports_every_service_running_on_the_env_ports(services, session_run_dir):
    rows = {row["name"]: row for row in svc.status(session_run_dir)}
    assert rows["mosquitto"]["port"] == int(services["QUANTRAC_MQTT_PORT"])
    assert services["QUANTRAC_INFLUX_URL"].endswith(f":{rows['influxdb']['port']}")
    if services["QUANTRAC_INFLUX_WRITE_URL"] != services["QUANTRAC_INFLUX_URL"]:
        assert services["QUANTRAC_INFLUX_WRITE_URL"].endswith(f":{rows['v2proxy']['port']}")
    assert all(row["running"] and row["pid"] for row in rows.values())


@pytest.mark.services
def test_a_service_that_died_alone_comes_back_on_its_port(services, session_run_dir):
    before = {row["name"]: row for row in svc.status(session_run_dir)}
    victim = "v2proxy" if "v2proxy" in before else "influxdb"
    os.kill(before[victim]["pid"], signal.SIGTERM)
    wait_for(lambda: not {r["name"]: r for r in svc.status(session_run_dir)}[victim]["running"],
             what=f"{victim} to stop")
    assert svc.up(session_run_dir) == services
    after = {row["name"]: row for row in svc.status(session_run_dir)}
    assert after[victim]["running"] and after[victim]["pid"] != before[victim]["pid"]
    assert after[victim]["port"] == before[victim]["port"]
    assert {n: r["pid"] for n, r in after.items() if n != victim} == \
        {n: r["pid"] for n, r in before.items() if n != victim}


@pytest.mark.services
def test_down_stops_exactly_its_own_processes_and_twice_is_a_no_op(run_dir, services,
                                                                    session_run_dir):
    svc.up(run_dir)
    rows = svc.status(run_dir)
    assert all(row["running"] for row in rows)
    stopped = svc.down(run_dir)
    assert sorted(stopped) == sorted(row["name"] for row in rows)
    for row in rows:
        assert not Path(f"/proc/{row['pid']}").exists(), row
    assert not any(row["running"] for row in svc.status(run_dir))
    assert svc.down(run_dir) == []
    assert all(row["running"] for row in svc.status(session_run_dir))


def test_down_never_signals_a_process_whose_command_line_is_not_ours(run_dir):
    decoy = subprocess.Popen(["sleep", "60"])
    try:
        conf = run_dir / "mosquitto" / "mosquitto.conf"
        (run_dir / "services.json").write_text(json.dumps({"mosquitto": {
            "pid": decoy.pid, "argv": ["/usr/sbin/mosquitto", "-c", str(conf)], "port": 1}}))
        assert svc.down(run_dir) == []
        assert [row["running"] for row in svc.status(run_dir)] == [False, False]
        assert decoy.poll() is None
    finally:
        decoy.kill()
        decoy.wait()


def test_a_daemon_that_fails_to_start_reports_its_log(run_dir):
    from collector.services import procs

    argv = ["sh", "-c", "echo 'listener: port 1 refused (marker-42)' >&2; exit 3"]
    log = run_dir / "fail.log"
    pid = procs.start(argv, log, cwd=run_dir)
    with pytest.raises(svc.ServicesError, match="marker-42") as e:
        procs.wait_ready("failing", pid, argv, log, lambda: False, timeout=WAIT_S)
    assert "exited while starting" in str(e.value)


def test_a_daemon_still_execing_is_not_taken_for_one_that_exited(run_dir, monkeypatch):
    # Right after Popen returns, /proc/<pid>/cmdline of the new program can still be empty; a
    # loaded CI machine once reported a healthy influxd as "exited while starting" and leaked it.
    from collector.services import procs

    argv = ["sleep", "30"]
    pid = procs.start(argv, run_dir / "sleep.log", cwd=run_dir)
    try:
        monkeypatch.setattr(procs, "cmdline", lambda _pid: None)
        calls = iter([False, False, True])
        procs.wait_ready("sleeper", pid, argv, run_dir / "sleep.log", lambda: next(calls),
                         timeout=WAIT_S)
        assert procs.running(pid, argv)
    finally:
        monkeypatch.undo()
        assert procs.stop(pid, argv)
    assert not procs.running(pid, argv)


def test_load_env_without_up_says_what_to_do(run_dir):
    with pytest.raises(svc.ServicesError, match="services up"):
        svc.load_env(run_dir)


@pytest.mark.services
@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_writer_writes_with_the_v2_api_and_reader_reads_it_back(services, gzip):
    station = f"t-{uuid.uuid4().hex[:8]}"
    v2_write(services, services["QUANTRAC_INFLUX_WRITE_USER"],
             services["QUANTRAC_INFLUX_WRITE_PASSWORD"],
             f"reading,station={station},param=so2,unit=ppb value=12.5,qc=2i 1763755200", gzip)
    assert values_for(services, station) == [["2025-11-21T20:00:00Z", 12.5]]


@pytest.mark.services
def test_reader_cannot_write_and_anonymous_cannot_query(services):
    station = f"t-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ApiException) as e:
        v2_write(services, *reader(services), f"reading,station={station} value=1 1763755200")
    assert e.value.status in (401, 403)
    assert values_for(services, station) == []
    status, doc = influxql(services, "SHOW DATABASES", auth=None)
    assert status == 401, doc


@pytest.mark.services
def test_proxy_refuses_bad_bucket_and_missing_token_clearly(services):
    url = services["QUANTRAC_INFLUX_WRITE_URL"]
    if url == services["QUANTRAC_INFLUX_URL"]:
        pytest.skip("the server serves /api/v2/write itself: no proxy in front of it")
    token = {"Authorization": f"Token {services['QUANTRAC_INFLUX_WRITE_USER']}:"
                              f"{services['QUANTRAC_INFLUX_WRITE_PASSWORD']}"}
    status, body = http_call(url, "POST", "/api/v2/write?org=-&bucket=a/b/c", b"m v=1", None,
                             token)
    assert status == 400 and b"bucket" in body
    status, body = http_call(url, "POST", "/api/v2/write?org=-&bucket=quantrac", b"m v=1")
    assert status == 401 and b"Token" in body
    status, body = http_call(url, "POST", "/api/v2/write?bucket=quantrac", b"m v=1",
                             headers={"Authorization": "Token nocolon"})
    assert status == 401 and b"user:password" in body
    status, body = http_call(url, "GET", "/health")
    assert status == 200 and json.loads(body)["status"] == "pass"
    assert http_call(url, "GET", "/ping")[0] == 204


@pytest.mark.services
def test_broker_refuses_anonymous_and_wrong_passwords(services, peers):
    user, password = collector_login(services)
    assert peers(services, user, password).accepted
    assert not peers(services, None, None).accepted
    assert not peers(services, user, password + "x").accepted
    station = boards.registry().ids()[0]
    assert not peers(services, station, password).accepted
    assert peers(services, station, station_password(services, station)).accepted


@pytest.mark.services
def test_a_station_cannot_publish_as_another(services, peers):
    a, b = boards.registry().ids()[:2]
    collector = peers(services, *collector_login(services))
    collector.subscribe("quantrac/v1/#")
    station = peers(services, a, station_password(services, a))
    mark = uuid.uuid4().hex
    forged, own, last = (f"{mark}-forged", f"{mark}-own", f"{mark}-last")
    station.publish(f"quantrac/v1/{b}/data", forged)
    station.publish(f"quantrac/v1/{a}/data", own)
    station.publish(f"quantrac/v1/{a}/event", last)
    wait_for(lambda: {own.encode(), last.encode()} <= collector.payloads(),
             what="the station's own messages at the collector")
    assert forged.encode() not in collector.payloads()


@pytest.mark.services
def test_a_station_reads_only_its_own_commands(services, peers):
    a, b = boards.registry().ids()[:2]
    station = peers(services, a, station_password(services, a))
    assert not station.subscribe(f"quantrac/v1/{a}/cmd")[0].is_failure
    # Mosquitto 2.0 grants a 3.1.1 subscription it will not serve; the ACL bites on delivery.
    station.subscribe(f"quantrac/v1/{b}/cmd")
    operator = peers(services, services["QUANTRAC_MQTT_OPERATOR_USER"],
                     services["QUANTRAC_MQTT_OPERATOR_PASSWORD"])
    mark = uuid.uuid4().hex
    operator.publish(f"quantrac/v1/{b}/cmd", f"{mark}-for-b")
    operator.publish(f"quantrac/v1/{a}/cmd", f"{mark}-for-a")
    wait_for(lambda: f"{mark}-for-a".encode() in station.payloads(), what="A's own command")
    assert f"{mark}-for-b".encode() not in station.payloads()


@pytest.mark.services
@pytest.mark.slow
def test_a_burst_to_an_offline_persistent_collector_is_delivered_in_full(private_services,
                                                                          peers):
    env = private_services
    station = boards.registry().ids()[-1]
    topic = f"quantrac/v1/{station}/data"
    session = f"t-burst-{uuid.uuid4().hex[:8]}"
    offline = peers(env, *collector_login(env), client_id=session, clean_session=False)
    assert not offline.subscribe(topic)[0].is_failure
    offline.close()

    publisher = Peer(env, station, station_password(env, station))
    publisher.client.max_inflight_messages_set(1000)
    acked = threading.Semaphore(0)
    publisher.client.on_publish = lambda *args: acked.release()
    publisher.connect()
    try:
        mark = uuid.uuid4().hex[:8]
        window = 20_000  # paho's packet ids wrap at 65,535: keep fewer than that unacknowledged
        for i in range(BURST):
            if i >= window:
                assert acked.acquire(timeout=WAIT_S), f"PUBACK missing after {i} messages"
            assert publisher.client.publish(topic, f"{mark}:{i}", qos=1).rc == 0
        for _ in range(min(window, BURST)):
            assert acked.acquire(timeout=WAIT_S), "PUBACKs missing at the end of the burst"
    finally:
        publisher.close()

    back = peers(env, *collector_login(env), client_id=session, clean_session=False)
    assert back.session_present
    want = {f"{mark}:{i}".encode() for i in range(BURST)}
    wait_for(lambda: len(back.received) >= BURST and want <= back.payloads(), timeout=60,
             what=lambda: f"{BURST} messages (have {len(back.payloads() & want)})")


@pytest.mark.services
def test_cli_status_up_and_down(services, session_run_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["services", "status", "--run-dir", str(session_run_dir)])
    assert result.exit_code == 0, result.output
    assert "mosquitto" in result.output and "influxdb" in result.output
    result = runner.invoke(cli, ["services", "up", "--run-dir", str(session_run_dir)])
    assert result.exit_code == 0, result.output
    assert str(session_run_dir / "services.env") in result.output
    assert services["QUANTRAC_INFLUX_URL"] in result.output
    empty = tmp_path / "empty"
    result = runner.invoke(cli, ["services", "status", "--run-dir", str(empty)])
    assert result.exit_code == 1 and "down" in result.output
    result = runner.invoke(cli, ["services", "down", "--run-dir", str(empty)])
    assert result.exit_code == 0 and "nothing was running" in result.output


@pytest.mark.services
def test_daemons_started_as_root_run_as_the_services_account(services, session_run_dir):
    if os.geteuid() != 0:
        pytest.skip("started by a normal user, the daemons run as that user")
    account = pwd.getpwnam(procs.DAEMON_ACCOUNT)
    record = json.loads((session_run_dir / "services.json").read_text())
    for name in ("mosquitto", "influxdb"):
        status = Path(f"/proc/{record[name]['pid']}/status").read_text()
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert set(map(int, uids)) == {account.pw_uid}, f"{name} runs as uid {uids}"
        folder = session_run_dir / name
        assert folder.stat().st_uid == account.pw_uid
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    # pytest's own tmp folders above the run folder are 0700 root: the daemons need no way in
    assert any(stat.S_IMODE(p.stat().st_mode) & 0o005 == 0 for p in session_run_dir.parents)
