"""Webhook and e-mail notifiers against real local servers (http.server, a small stdlib SMTP
server with STARTTLS): delivered, retried on 5xx / 4xx SMTP / no connection, refused for good
into the alert dead letters, and the background outputs that never block the collector. A
webhook that redirects keeps its alerts and the host it names gets nothing; an SMTP server
whose certificate the configured CA did not sign (or not for its name) gets no login."""

from __future__ import annotations

import email
import json
import socket
import socketserver
import ssl
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from collector_live import wait_for
from loopback_peers import HttpRecorder

from collector.config import ConfigError, Settings
from collector.contracts import Point
from collector.dead_letters import read
from collector.delivery.alert_outputs import AlertOutputs
from collector.sinks.notify.plugin import EmailSink, WebhookSink

T = 1763755200


def alert(station="pq-air-01", severity="warning", event="open", n=0) -> Point:
    doc = {"v": 1, "st": station, "rule": "qcvn05.so2.1h", "state": "open", "t": T + n,
           "event": event, "id": f"{station}/qcvn05.so2.1h/{T}", "severity": severity,
           "value": 524.1, "limit": 350.0, "unit": "ug/Nm3",
           "text_vi": "pq-air-01: SO2 trung bình 1 giờ là 524.1 µg/Nm³, vượt giới hạn",
           "text_en": "pq-air-01: 1-hour mean SO2 is 524.1 µg/Nm³, above the limit"}
    return Point("alert", {"station": station, "rule": "qcvn05.so2.1h", "severity": severity},
                 {"state": "open", "value": 524.1}, T + n, note=doc)


class Receiver:
    """A webhook receiver answering each POST with the next scripted status (then 200)."""

    def __init__(self, answers=(), headers=None) -> None:
        self.answers, self.headers = list(answers), headers or {}
        self.bodies: list[dict] = []
        self.calls = 0
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                me.calls += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                code = me.answers.pop(0) if me.answers else 200
                if code == 200:
                    me.bodies.append(json.loads(body))
                self.send_response(code)
                for k, v in me.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"error":1}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class SmtpServer:
    """Just enough SMTP to receive mail; `rcpt` and `data` set the answers to RCPT and DATA.
    With `tls` (certificate, key): STARTTLS and AUTH PLAIN; `logins` has each AUTH line
    received and whether it came over TLS, `handshakes` each STARTTLS's outcome."""

    def __init__(self, rcpt: bytes = b"250 OK", data: bytes = b"250 OK",
                 tls: tuple[Path, Path] | None = None) -> None:
        self.rcpt, self.data = rcpt, data
        self.messages: list[email.message.EmailMessage] = []
        self.logins: list[tuple[bytes, bool]] = []
        self.handshakes: list[str] = []
        me = self
        context = None
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                secure = False

                def w(data: bytes) -> None:
                    self.request.sendall(data)

                w(b"220 test ESMTP\r\n")
                lines = self.rfile
                while line := lines.readline():  # `lines` changes after STARTTLS
                    cmd = line.strip().upper()
                    if cmd.startswith((b"EHLO", b"HELO")):
                        offers = [b"STARTTLS"] if context and not secure else []
                        offers += [b"AUTH PLAIN"] if context else []
                        w(b"".join(b"250-" + x + b"\r\n" for x in [b"test", *offers[:-1]])
                          + b"250 " + (offers or [b"test"])[-1] + b"\r\n")
                    elif cmd == b"STARTTLS" and context:
                        w(b"220 go ahead\r\n")
                        try:
                            self.request = context.wrap_socket(self.request, server_side=True)
                        except (ssl.SSLError, OSError) as e:
                            me.handshakes.append(f"failed: {e}")
                            return
                        me.handshakes.append("ok")
                        secure, lines = True, self.request.makefile("rb")
                    elif cmd.startswith(b"AUTH"):
                        me.logins.append((line.strip(), secure))
                        w(b"235 accepted\r\n")
                    elif cmd.startswith(b"RCPT"):
                        w(me.rcpt + b"\r\n")
                    elif cmd == b"DATA":
                        w(b"354 end with .\r\n")
                        got = []
                        for body in iter(lines.readline, b""):
                            if body == b".\r\n":
                                break
                            got.append(body[1:] if body.startswith(b"..") else body)
                        if me.data.startswith(b"250"):
                            me.messages.append(email.message_from_bytes(
                                b"".join(got), policy=policy.default))
                        w(me.data + b"\r\n")
                    elif cmd == b"QUIT":
                        w(b"221 bye\r\n")
                        return
                    else:  # MAIL, RSET, NOOP
                        w(b"250 OK\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver():
    made = []

    def make(*args, **kw):
        made.append(Receiver(*args, **kw))
        return made[-1]
    yield make
    for r in made:
        r.close()


@pytest.fixture
def smtp():
    made = []

    def make(**kw):
        made.append(SmtpServer(**kw))
        return made[-1]
    yield make
    for s in made:
        s.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webhook_posts_the_alert_json(receiver):
    r = receiver()
    result = WebhookSink(r.url).write([alert(), alert(n=1)])
    assert result.accepted == [0, 1] and not result.rejected and result.retry_after is None
    assert r.bodies[0]["st"] == "pq-air-01" and r.bodies[1]["t"] == T + 1
    assert "µg/Nm³" in r.bodies[0]["text_vi"]


def test_webhook_keeps_alerts_on_5xx_and_honours_retry_after(receiver):
    r = receiver([503], headers={"Retry-After": "7"})
    result = WebhookSink(r.url).write([alert(), alert(n=1)])
    assert (result.accepted, result.rejected, result.retry_after) == ([], [], 7.0)
    assert "HTTP 503" in result.error and r.calls == 1  # the second waits its turn


def test_webhook_refuses_for_good_on_4xx(receiver):
    r = receiver([404])
    result = WebhookSink(r.url).write([alert(), alert(n=1)])
    assert result.accepted == [1] and result.rejected[0][0] == 0
    assert "HTTP 404" in result.rejected[0][1]


def test_webhook_without_a_receiver_retries():
    result = WebhookSink(f"http://127.0.0.1:{closed_port()}/x", timeout_s=2).write([alert()])
    assert result.accepted == [] and result.retry_after == 0.0 and "refused" in result.error


def test_below_min_severity_nothing_is_sent(receiver):
    r = receiver()
    result = WebhookSink(r.url, min_severity="critical").write([alert(severity="warning")])
    assert result.accepted == [0] and r.calls == 0


@pytest.mark.parametrize("durable", [False, True], ids=["in-memory", "outbox"])
def test_the_output_retries_in_the_background_then_dead_letters_a_refusal(receiver, tmp_path,
                                                                          durable):
    r = receiver([500, 500])
    out = AlertOutputs({"webhook": WebhookSink(r.url)}, tmp_path / "adl.jsonl",
                       retry_initial_s=0.05, retry_max_s=0.1,
                       outbox_dir=tmp_path / "alert-outbox" if durable else None)
    out.start()
    try:
        out.send([alert()])
        deadline = time.monotonic() + 20
        while not r.bodies and time.monotonic() < deadline:
            time.sleep(0.02)
        assert r.calls == 3 and r.bodies[0]["id"] == f"pq-air-01/qcvn05.so2.1h/{T}"
        r.answers = [422]
        out.send([alert(n=5)])
        while not (tmp_path / "adl.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        (entry,) = read(tmp_path / "adl.jsonl")
        assert entry["class"] == "webhook" and "HTTP 422" in entry["reason"]
        assert entry["alert"]["t"] == T + 5 and entry["topic"] == "quantrac/v1/alerts/pq-air-01"
        def counts() -> tuple[int, int, int]:
            stats = out.stats()["webhook"]
            return stats["delivered"], stats["refused"], stats["waiting"]

        # the dead letter is written before the outbox lets the item go
        while counts() != (1, 1, 0) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert counts() == (1, 1, 0)
    finally:
        out.stop(timeout_s=1)


def test_stop_gives_up_on_a_receiver_that_never_answers(tmp_path, caplog):
    out = AlertOutputs({"webhook": WebhookSink(f"http://127.0.0.1:{closed_port()}/x")},
                       tmp_path / "adl.jsonl", retry_initial_s=0.05, retry_max_s=0.05)
    out.start()
    out.send([alert()])
    time.sleep(0.2)
    out.stop(timeout_s=0.3)
    assert "1 alerts not delivered" in caplog.text


def test_email_is_sent_in_vietnamese_and_english(smtp):
    s = smtp()
    sink = EmailSink("127.0.0.1", s.port, sender="qt@example.org",
                     recipients=("ops@example.org", "duty@example.org"))
    result = sink.write([alert(), alert(severity="info")])
    assert result.accepted == [0, 1] and len(s.messages) == 1  # info is below warning
    msg = s.messages[0]
    assert msg["Subject"] == "[Quantrac] Cảnh báo / Alert: pq-air-01 qcvn05.so2.1h"
    assert msg["To"] == "ops@example.org, duty@example.org"
    body = msg.get_content()
    assert body.index("vượt giới hạn") < body.index("above the limit")
    assert "limit: 350.0" in body and "time: 2025-11-21 20:00:00 UTC" in body


def test_the_contact_chain_gets_email_and_webhook_and_a_silenced_alert_nobody(smtp, receiver):
    s, hook, contact = smtp(), receiver(), receiver()
    mail = EmailSink("127.0.0.1", s.port, sender="qt@example.org", recipients=("ops@example.org",))
    web = WebhookSink(hook.url)
    level1 = alert()
    level1.note["to"] = {"email": ["truc.ban@example.org"], "webhook": [contact.url]}
    up = alert(event="escalate", n=1800)
    up.note["to"] = {"email": ["truong.phong@example.org"]}
    quiet = alert(n=5)
    quiet.note["silenced"] = {"reason": "bảo trì", "by": "An", "source": "operator"}
    for sink in (mail, web):
        assert sink.write([level1, up, quiet]).accepted == [0, 1, 2]
    assert [m["To"] for m in s.messages] == ["ops@example.org, truc.ban@example.org",
                                            "truong.phong@example.org"]
    assert s.messages[1]["Subject"].startswith("[Quantrac] Chuyển cấp / Escalated:")
    assert [b["event"] for b in hook.bodies] == ["open"]  # no webhook contact at level 2
    assert [b["event"] for b in contact.bodies] == ["open"]


@pytest.mark.parametrize("answers, outcome", [
    ({"data": b"554 no thanks"}, "rejected"),
    ({"rcpt": b"550 no such user"}, "rejected"),
    ({"data": b"451 try later"}, "retry"),
])
def test_email_refusals_and_delays(smtp, answers, outcome):
    s = smtp(**answers)
    result = EmailSink("127.0.0.1", s.port, recipients=("ops@example.org",)).write([alert()])
    if outcome == "rejected":
        assert result.accepted == [] and result.rejected[0][0] == 0
    else:
        assert result.accepted == [] and result.rejected == [] and result.retry_after == 0.0
        assert "451" in result.error


def test_email_without_a_server_retries():
    result = EmailSink("127.0.0.1", closed_port(), recipients=("a@b.c",)).write([alert()])
    assert result.accepted == [] and result.retry_after == 0.0 and "refused" in result.error


def test_email_needs_recipients():
    with pytest.raises(ValueError, match="smtp_to: no recipients"):
        EmailSink("127.0.0.1", 25)


def test_email_names_the_alert_snapshot(smtp):
    s = smtp()
    sink = EmailSink("127.0.0.1", s.port, recipients=("ops@example.org",))
    with_snap = alert()
    with_snap.note["snapshot"] = {"path": "camera/pq-air-01/2025-11-21/200000-open.jpg"}
    dead_camera = alert(n=1)
    dead_camera.note["snapshot"] = {"error": "camera unreachable"}
    assert sink.write([with_snap, dead_camera]).accepted == [0, 1]
    bodies = [m.get_content() for m in s.messages]
    assert "snapshot: camera/pq-air-01/2025-11-21/200000-open.jpg" in bodies[0]
    assert "snapshot: camera unreachable" in bodies[1]


def test_webhook_alerts_wait_in_the_outbox_across_a_restart(receiver, tmp_path):
    # The receiver is down when the alert is raised and the collector stops (or dies): the
    # alert is delivered once after the next start, and a replayed alert is not sent twice.
    dead_port = closed_port()
    box = tmp_path / "alert-outbox"
    out = AlertOutputs({"webhook": WebhookSink(f"http://127.0.0.1:{dead_port}/x", timeout_s=1)},
                       tmp_path / "adl.jsonl", retry_initial_s=0.05, retry_max_s=0.1,
                       outbox_dir=box)
    out.start()
    out.send([alert(), alert(n=1)])
    time.sleep(0.3)
    assert out.stats()["webhook"]["waiting"] == 2
    out.stop(timeout_s=0.5)

    r = receiver()
    again = AlertOutputs({"webhook": WebhookSink(r.url)}, tmp_path / "adl.jsonl",
                         retry_initial_s=0.05, retry_max_s=0.1, outbox_dir=box)
    again.start()
    try:
        again.send([alert()])  # the same alert replayed from the spool after a crash
        deadline = time.monotonic() + 20
        while len(r.bodies) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert [b["t"] for b in r.bodies] == [T, T + 1]  # in order, each once
        assert again.stats()["webhook"] == {"state": "ok", "last_error": "", "delivered": 2,
                                            "refused": 0, "waiting": 0}
    finally:
        again.stop(timeout_s=1)


@pytest.mark.parametrize("durable", [False, True], ids=["in-memory", "outbox"])
def test_a_webhook_that_redirects_keeps_its_alerts_and_the_host_it_names_gets_nothing(
        receiver, tmp_path, durable):
    elsewhere = HttpRecorder()
    redirecting = HttpRecorder(302, {"Location": f"{elsewhere.url}/hook"})
    out = AlertOutputs({"webhook": WebhookSink(f"{redirecting.url}/alerts", timeout_s=2)},
                       tmp_path / "adl.jsonl", retry_initial_s=0.05, retry_max_s=0.1,
                       outbox_dir=tmp_path / "alert-outbox" if durable else None)
    out.start()
    try:
        out.send([alert()])
        deadline = time.monotonic() + 20
        while len(redirecting.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = out.stats()["webhook"]
        assert stats["state"] == "operator" and stats["waiting"] == 1
        assert f"HTTP 302 redirect to {elsewhere.url}/hook" in stats["last_error"]
        assert "[sinks.notify] webhook_url" in stats["last_error"]
        assert {r["method"] for r in redirecting.requests} == {"POST"}
    finally:
        out.stop(timeout_s=0.5)
        redirecting.close()
        elsewhere.close()
    assert elsewhere.requests == [] and not (tmp_path / "adl.jsonl").exists()


def tls_server(tmp_path: Path, name: str, ca: str, hosts: list[str]) -> tuple[Path, Path]:
    """A server certificate for `hosts` signed by the CA `ca` (made once per folder)."""
    from quantrac.field.tls import Authority

    folder = tmp_path / name
    folder.mkdir()
    Authority.ensure(tmp_path / f"{ca}.crt", tmp_path / f"{ca}.key").server(folder, hosts)
    return folder / "server.crt", folder / "server.key"


def test_email_logs_in_only_to_a_server_the_configured_ca_signed_for_its_name(smtp, tmp_path):
    department = str(tmp_path / "department-ca.crt")
    good = smtp(tls=tls_server(tmp_path, "good", "department-ca", ["127.0.0.1"]))
    other_ca = smtp(tls=tls_server(tmp_path, "other", "someone-elses-ca", ["127.0.0.1"]))
    wrong_name = smtp(tls=tls_server(tmp_path, "name", "department-ca", ["smtp.example.org"]))

    def send(server: SmtpServer):
        return EmailSink("127.0.0.1", server.port, recipients=("ops@example.org",),
                         starttls=True, user="quantrac", password="smtp-secret",
                         timeout_s=5, ca_file=department).write([alert()])

    delivered = send(good)
    assert delivered.accepted == [0] and len(good.messages) == 1
    assert good.logins == [(good.logins[0][0], True)]  # the login went over TLS
    for server, why in ((other_ca, ""), (wrong_name, "IP address mismatch")):
        result = send(server)
        assert result.accepted == [] and result.rejected == [] and result.operator
        assert "the server's certificate does not verify" in result.error
        assert why in result.error and "smtp_ca_file" in result.error
        assert server.logins == [] and server.messages == []
        wait_for(lambda s=server: s.handshakes, "the server to see the handshake end")
        assert server.handshakes[0].startswith("failed")


def test_an_smtp_login_without_starttls_is_refused_at_load(tmp_path):
    env = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
           "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
           "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
           "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}
    notify = {"smtp_host": "smtp.angiang.gov.vn", "smtp_to": ["ops@example.org"],
              "smtp_user": "quantrac"}
    with pytest.raises(ConfigError, match=r"\[sinks.notify\] smtp_user = 'quantrac': the login "
                       r"would go in clear text; set smtp_starttls = true"):
        Settings.from_env(env, tmp_path, {"sinks": {"notify": notify}})
    with pytest.raises(ValueError, match="the login would go in clear text"):
        EmailSink("127.0.0.1", 25, recipients=("a@b.c",), user="quantrac")
    ok = Settings.from_env(env, tmp_path, {"sinks": {"notify": {**notify, "smtp_starttls": True}}})
    assert ok.notify.smtp_starttls
    with pytest.raises(ConfigError, match=r"smtp_ca_file = '/nonexistent.pem': not a readable"):
        Settings.from_env(env, tmp_path, {"sinks": {"notify": {
            **notify, "smtp_starttls": True, "smtp_ca_file": "/nonexistent.pem"}}})
