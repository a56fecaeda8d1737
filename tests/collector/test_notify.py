"""Webhook and e-mail notifiers against real local servers (http.server, a small stdlib SMTP
server): delivered, retried on 5xx / 4xx SMTP / no connection, refused for good into the alert
dead letters, and the background outputs that never block the collector."""

from __future__ import annotations

import email
import json
import socket
import socketserver
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collector.alerting.outputs import AlertOutputs
from collector.contracts import Point
from collector.dead_letters import read
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
    """Just enough SMTP to receive mail; `rcpt` and `data` set the answers to RCPT and DATA."""

    def __init__(self, rcpt: bytes = b"250 OK", data: bytes = b"250 OK") -> None:
        self.rcpt, self.data = rcpt, data
        self.messages: list[email.message.EmailMessage] = []
        me = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                w = self.wfile.write
                w(b"220 test ESMTP\r\n")
                for line in self.rfile:
                    cmd = line.strip().upper()
                    if cmd.startswith((b"EHLO", b"HELO")):
                        w(b"250 test\r\n")
                    elif cmd.startswith(b"RCPT"):
                        w(me.rcpt + b"\r\n")
                    elif cmd == b"DATA":
                        w(b"354 end with .\r\n")
                        lines = []
                        for body in self.rfile:
                            if body == b".\r\n":
                                break
                            lines.append(body[1:] if body.startswith(b"..") else body)
                        if me.data.startswith(b"250"):
                            me.messages.append(email.message_from_bytes(
                                b"".join(lines), policy=policy.default))
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
        stats = out.stats()["webhook"]
        assert (stats["delivered"], stats["refused"], stats["waiting"]) == (1, 1, 0)
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
