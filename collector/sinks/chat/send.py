"""What the Zalo and Telegram outputs share: one alert to several recipients, each answer
sorted into delivered, refused for good, retry later or an operator's matter; the token read
from the secrets file at each attempt (a renewed token applies without a restart) and never
written anywhere else (errors name the file and the key, never the value).

A recipient an alert already reached is not sent it again when the alert is retried for a
later one (remembered in memory: after a restart a retried alert may reach one twice, never
none)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from collector.alerting import desk
from collector.alerting.desk import addressed
from collector.contracts import Point, WriteResult
from collector.delivery import safe_transport
from collector.sinks.chat.text import message


@dataclass(frozen=True)
class Answer:
    kind: str  # ok | refused | retry | operator
    why: str = ""
    after: float = 0.0


def load_secrets(path: Path) -> dict[str, str]:
    """The JSON object of strings at `path`; {} when it does not exist; ValueError naming the
    file when unreadable (its content is never quoted)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable secrets file ({type(e).__name__})") from None
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise ValueError(f"{path}: must be a JSON object of strings")
    return doc



class ChatSink:
    """An alert output to a chat service; subclasses say how one message goes (`send`)."""

    name = ""
    channel = ""
    token_key = ""

    def __init__(self, api_url: str, own: tuple[str, ...], secrets: Path, *,
                 min_severity: str = "warning", timeout_s: float = 10.0,
                 tz: tzinfo | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self.own, self.secrets = tuple(own), secrets
        self.min_severity, self.timeout_s, self.tz = min_severity, timeout_s, tz
        self._http = safe_transport.opener()
        self._sent: dict[str, set[str]] = {}

    def send(self, token: str, recipient: str, text: str) -> Answer:
        raise NotImplementedError

    def _token(self) -> str | Answer:
        try:
            token = load_secrets(self.secrets).get(self.token_key, "")
        except ValueError as e:
            return Answer("operator", str(e))
        return token or Answer("operator", f"{self.secrets}: no {self.token_key}; the "
                               f"{self.name} alerts wait until it is there")

    def write(self, items: list[Point]) -> WriteResult:
        result = WriteResult()
        for i, p in enumerate(items):
            note: dict[str, Any] = p.note or {}
            wanted = desk.wanted(p, self.min_severity)
            to = addressed(note, self.channel, self.own) if wanted else []
            if not to:
                result.accepted.append(i)
                continue
            token = self._token()
            if isinstance(token, Answer):
                result.error, result.operator, result.retry_after = token.why, True, 0.0
                return result
            key = f"{note.get('id', p.station)}|{note.get('event')}|{note.get('t')}"
            sent = self._sent.setdefault(key, set())
            text = message(note, self.tz)
            refused = []
            for r in to:
                if r in sent:
                    continue
                a = self.send(token, r, text)
                if token in a.why:  # a service that quotes the token back: never shown
                    a = Answer(a.kind, a.why.replace(token, "***"), a.after)
                if a.kind == "ok":
                    sent.add(r)
                elif a.kind == "refused":
                    refused.append(f"{self.channel} {r}: {a.why}")
                else:  # this alert and the later ones wait, in order
                    result.error, result.retry_after = a.why, a.after
                    result.operator = a.kind == "operator"
                    return result
            del self._sent[key]
            if refused:
                result.rejected.append((i, "; ".join(refused)))
            else:
                result.accepted.append(i)
        return result

    def _post(self, url: str, shown: str, body: dict[str, Any],
              headers: dict[str, str]) -> tuple[int, dict[str, Any], Any] | Answer:
        """(HTTP status, the JSON answer, headers); an Answer when there was none to read.
        `shown` is the URL as errors may name it (no token in it)."""
        import urllib.error
        import urllib.request

        req = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode(),
                                     method="POST", headers={
                                         "Content-Type": "application/json; charset=utf-8",
                                         "User-Agent": "quantrac-collector", **headers})
        try:
            with self._http.open(req, timeout=self.timeout_s) as answer:
                status, raw, hdrs = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as e:
            if safe_transport.is_redirect(e.code):
                return Answer("operator", f"{shown}: HTTP {e.code} redirect: not followed (it "
                              f"would carry the token); set {self.name}_api_url to the address "
                              "that answers")
            status, raw, hdrs = e.code, e.read(), e.headers
        except (urllib.error.URLError, OSError) as e:
            return Answer("retry", f"{shown}: {getattr(e, 'reason', e)}")
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        return status, doc if isinstance(doc, dict) else {}, hdrs
