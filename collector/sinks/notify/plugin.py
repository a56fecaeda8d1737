"""Alert points → people: a webhook (HTTP POST of the JSON payload) and e-mail (SMTP).

Each sink answers a write with a `WriteResult`; the alert output around it (a RunningSink on
its own thread, collector/delivery/alert_outputs.py) owns retrying and dead letters:

| webhook answer                        | result                                             |
|---------------------------------------|----------------------------------------------------|
| 2xx                                   | delivered                                          |
| 3xx (a redirect: not followed)        | kept, retried, logged as operator error            |
| 408, 425, 429, 5xx, timeout, no link  | kept, retried in order with back-off (Retry-After) |
| other 4xx                             | refused: alert-dead-letters.jsonl, not retried     |

| SMTP answer                           | result                                             |
|---------------------------------------|----------------------------------------------------|
| accepted                              | delivered                                          |
| 4xx, disconnect, timeout, no link     | kept, retried                                      |
| 5xx, every recipient refused          | refused: alert-dead-letters.jsonl                  |
| no STARTTLS, certificate not verified | kept, retried, logged as operator error (no login) |

STARTTLS checks the server's certificate (the system's CAs, or `smtp_ca_file`) and the host
name; the login is only ever sent after it, so a login without STARTTLS is a config error.
Alerts below `min_severity` are passed over (counted as delivered). Stdlib only.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from email.message import EmailMessage

from collector.alerting import desk
from collector.alerting.desk import addressed
from collector.contracts import Point, WriteResult
from collector.delivery import safe_transport
from collector.delivery.backoff import retry_after_s
from collector.plugins import Env, Plugin, register
from collector.sinks.influxdb.plugin import server_message
from collector.sinks.notify.options import NotifyOptions

log = logging.getLogger("quantrac.collector.notify")
RETRY_STATUS = (408, 425, 429)
EVENT_VI = {"open": "Cảnh báo", "update": "Cập nhật cảnh báo", "close": "Hết cảnh báo",
            "ack": "Đã xác nhận", "escalate": "Chuyển cấp"}
EVENT_EN = {"open": "Alert", "update": "Alert update", "close": "Recovered",
            "ack": "Acknowledged", "escalate": "Escalated"}
# a forecaster's early warning (`forecast: true`, forecast/warning.py): its own words, so no
# subject reads as a measured alert
FORECAST_VI = {"warn": "Cảnh báo sớm", "update": "Cập nhật cảnh báo sớm",
               "close": "Hết cảnh báo sớm"}
FORECAST_EN = {"warn": "Early warning", "update": "Early warning update",
               "close": "Early warning over"}
FORECAST_DETAILS = ("day", "lead_h", "interval", "confidence", "group")
PASSWORD_ENV = "QUANTRAC_SMTP_PASSWORD"
LOGIN_NEEDS_TLS = ("[sinks.notify] smtp_user = {user!r}: the login would go in clear text; "
                   "set smtp_starttls = true (the server's certificate is checked)")



class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = 10.0, min_severity: str = "info") -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.min_severity = min_severity
        self._http = safe_transport.opener()

    def write(self, items: list[Point]) -> WriteResult:
        result = WriteResult()
        for i, p in enumerate(items):
            if not desk.wanted(p, self.min_severity):
                result.accepted.append(i)
                continue
            body = json.dumps(p.note, ensure_ascii=False).encode("utf-8")
            refused = []
            # the contact chain's webhooks too; a retry may post again to one that had it
            # (at least once: a receiver keys on id, event and t)
            for url in addressed(p.note, "webhook", (self.url,)):
                req = urllib.request.Request(url, data=body, method="POST", headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "quantrac-collector"})
                try:
                    with self._http.open(req, timeout=self.timeout_s) as answer:
                        answer.read()
                except urllib.error.HTTPError as e:
                    if safe_transport.is_redirect(e.code):  # this one and the later ones wait
                        result.error = safe_transport.redirect_error(
                            url, e.code, e.headers, "[sinks.notify] webhook_url")
                        result.operator = True
                        return result
                    msg = f"{url}: HTTP {e.code}: {server_message(e.read()) or e.reason}"
                    if e.code in RETRY_STATUS or e.code >= 500:
                        result.retry_after, result.error = retry_after_s(e.headers), msg
                        return result  # keep this one and the later ones, in order
                    refused.append(msg)
                except (urllib.error.URLError, OSError) as e:  # refused, reset, timeout
                    reason = getattr(e, "reason", e)
                    result.retry_after, result.error = 0.0, f"{url}: {reason}"
                    return result
            if refused:
                result.rejected.append((i, "; ".join(refused)))
            else:
                result.accepted.append(i)
        return result


def message(p: Point, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    doc = p.note or {}
    event = str(doc.get("event", "open"))
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    forecast = doc.get("forecast") is True
    if forecast:
        kind = (f"{FORECAST_VI.get(event, event)} (dự báo, không phải số đo) / "
                f"{FORECAST_EN.get(event, event)} (forecast, not a measurement)")
    else:
        kind = f"{EVENT_VI.get(event, event)} / {EVENT_EN.get(event, event)}"
    msg["Subject"] = f"[Quantrac] {kind}: {doc.get('st', '')} {doc.get('rule', '')}"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(int(doc.get("t", 0))))
    keys = ("st", "rule", "severity", "value", "limit", "unit", "period", "level", "colour",
            *(FORECAST_DETAILS if forecast else ()), "id")
    details = [f"{k}: {doc[k]}" for k in keys if k in doc]
    snap = doc.get("snapshot")
    if isinstance(snap, dict):  # the camera module's reference, or why there is none
        details.append(f"snapshot: {snap.get('url') or snap.get('path') or snap.get('error')}")
    msg.set_content("\n".join([str(doc.get("text_vi", "")), "", str(doc.get("text_en", "")),
                               "", f"time: {when}", *details, ""]))
    return msg


class EmailSink:
    name = "email"

    def __init__(self, host: str, port: int = 25, *, sender: str = "quantrac@localhost",
                 recipients: tuple[str, ...] = (), starttls: bool = False, user: str = "",
                 password: str = "", timeout_s: float = 10.0,
                 min_severity: str = "warning", ca_file: str | None = None) -> None:
        """`ca_file`: the CA the server's STARTTLS certificate must chain to (None: the
        system's CAs)."""
        if not recipients:
            raise ValueError("[sinks.notify] smtp_to: no recipients for e-mail alerts")
        if user and not starttls:
            raise ValueError(LOGIN_NEEDS_TLS.format(user=user))
        self.tls = ssl.create_default_context(cafile=ca_file) if starttls else None
        self.host, self.port = host, port
        self.sender, self.recipients = sender, tuple(recipients)
        self.starttls, self.user, self.password = starttls, user, password
        self.timeout_s = timeout_s
        self.min_severity = min_severity

    def write(self, items: list[Point]) -> WriteResult:
        result = WriteResult()
        todo = [i for i, p in enumerate(items) if desk.wanted(p, self.min_severity)]
        skip = set(range(len(items))) - set(todo)
        result.accepted = sorted(skip)
        if not todo:
            return result
        where = f"smtp://{self.host}:{self.port}"
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.tls is not None:
                    try:
                        smtp.starttls(context=self.tls)
                    except ssl.SSLCertVerificationError as e:
                        return self._operator(smtp, result, f"{where}: the server's certificate "
                                              f"does not verify ({e.verify_message}); check "
                                              "[sinks.notify] smtp_ca_file and smtp_host")
                    except smtplib.SMTPNotSupportedError:
                        return self._operator(smtp, result,
                                              f"{where}: the server offers no STARTTLS")
                if self.user:  # only ever after a verified STARTTLS (see __init__)
                    smtp.login(self.user, self.password)
                for i in todo:
                    to = tuple(addressed(items[i].note, "email", self.recipients))
                    if not to:  # an escalation to a level without e-mail contacts
                        result.accepted.append(i)
                        continue
                    try:
                        smtp.send_message(message(items[i], self.sender, to))
                        result.accepted.append(i)
                    except smtplib.SMTPRecipientsRefused as e:
                        result.rejected.append((i, f"{where}: every recipient refused: "
                                                   f"{e.recipients}"))
                    except smtplib.SMTPResponseException as e:
                        text = e.smtp_error.decode("utf-8", "replace") \
                            if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
                        if e.smtp_code >= 500:
                            result.rejected.append((i, f"{where}: {e.smtp_code} {text}"))
                        else:
                            result.error = f"{where}: {e.smtp_code} {text}"
                            result.retry_after = 0.0
                            return result
        except (smtplib.SMTPException, OSError) as e:
            result.error = f"{where}: {type(e).__name__}: {e}"
            result.retry_after = 0.0
        result.accepted.sort()
        return result

    @staticmethod
    def _operator(smtp: smtplib.SMTP, result: WriteResult, error: str) -> WriteResult:
        """Kept for a person to fix: no login and no message went out. The connection is
        dropped, not ended with QUIT, which would go over it unencrypted."""
        smtp.close()
        result.error, result.operator = error, True
        return result


def check(o: NotifyOptions, env: Env) -> None:
    """Refuse at load a login that would go out in clear text, an unreadable CA file."""
    if o.min_severity not in ("info", "warning", "critical"):
        raise ValueError(f"min_severity = {o.min_severity!r}: must be info, warning or "
                         "critical")
    if not o.smtp_host:
        return
    if o.smtp_user and not o.smtp_starttls:
        raise ValueError(LOGIN_NEEDS_TLS.format(user=o.smtp_user))
    if o.smtp_ca_file:
        safe_transport.check_ca_file("smtp_ca_file", o.smtp_ca_file)


def build(o: NotifyOptions, env: Env) -> dict[str, WebhookSink | EmailSink]:
    """The webhook and the e-mail output, each when configured."""
    out: dict[str, WebhookSink | EmailSink] = {}
    if o.webhook_url:
        out["webhook"] = WebhookSink(o.webhook_url, timeout_s=o.timeout_s,
                                     min_severity=o.min_severity)
    if o.smtp_host:
        out["email"] = EmailSink(o.smtp_host, o.smtp_port, sender=o.smtp_from,
                                 recipients=o.smtp_to, starttls=o.smtp_starttls,
                                 user=o.smtp_user, password=os.environ.get(PASSWORD_ENV, ""),
                                 timeout_s=o.timeout_s, min_severity=o.min_severity,
                                 ca_file=o.smtp_ca_file or None)
    return out


register(Plugin("output", "notify", NotifyOptions, build, check))
