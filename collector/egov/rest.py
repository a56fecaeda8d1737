"""Alerts and hourly indices → the province's e-government / operations-centre REST endpoint,
JSON with an OAuth2 client-credentials token (RFC 6749 §4.4), one outbox item per request.

Each request carries `Idempotency-Key: <item key>`, so a request repeated after a lost answer
is recognised by the receiver. The token is fetched with HTTP Basic client authentication,
kept until 30 s before it expires, and fetched again once when the endpoint answers 401. Both
URLs are https (http only to a loopback host), and a redirect is never followed: it would send
the token or the client secret to the host `Location` names (collector/delivery/safe_transport.py).

| endpoint answer                        | outcome                                            |
|----------------------------------------|----------------------------------------------------|
| 2xx; 409 (the key is known already)    | delivered                                          |
| 3xx from either endpoint (a redirect)  | not followed: kept, retried, operator error        |
| 401 after a fresh token, 403           | kept, retried, logged as operator error            |
| 408, 425, 429, 5xx, timeout, no link   | kept, retried with back-off (Retry-After honoured) |
| any other 4xx                          | refused: dead letter with the server's reason      |
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from collector.delivery import safe_transport
from collector.delivery.backoff import retry_after_s
from collector.delivery.outbox import OutboxItem, Outcome
from collector.sinks.influxdb.plugin import server_message

log = logging.getLogger("quantrac.collector.egov.rest")
RETRY_STATUS = (408, 425, 429)
TOKEN_MARGIN_S = 30.0


class TokenError(RuntimeError):
    def __init__(self, message: str, operator: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.operator, self.retry_after = operator, retry_after


class RestDeliverer:
    name = "api"

    def __init__(self, url: str, token_url: str, client_id: str, client_secret: str, *,
                 scope: str = "", timeout_s: float = 30.0, ca_file: str | None = None) -> None:
        """`ca_file`: https only, the CA the endpoints' certificates must chain to (None: the
        system's CAs)."""
        for what, value, carries in (("api_url", url, "the bearer token"),
                                     ("token_url", token_url, "the client secret")):
            if error := safe_transport.https_url(f"[egov] {what}", value, carries):
                raise ValueError(error)
        if not client_id:
            raise ValueError("[egov] client_id: empty; the token endpoint needs it")
        self.url, self.token_url = url, token_url
        self.client_id, self.client_secret, self.scope = client_id, client_secret, scope
        self.timeout_s = timeout_s
        self._http = safe_transport.opener(ssl.create_default_context(cafile=ca_file))
        self._token: str | None = None
        self._expires = 0.0
        self.tokens_fetched = 0

    def deliver(self, item: OutboxItem) -> Outcome:
        body = json.dumps(item.body, ensure_ascii=False).encode("utf-8")
        for refreshed in (False, True):
            try:
                token = self._bearer(force=refreshed)
            except TokenError as e:
                return Outcome.retry(str(e), e.retry_after, e.operator)
            status, headers, answer = self._post(body, token, item.key)
            if status is None:
                return Outcome.retry(f"{self.url}: {answer.decode(errors='replace')}")
            if 200 <= status < 300 or status == 409:
                return Outcome.ok()
            if safe_transport.is_redirect(status):
                return Outcome.retry(safe_transport.redirect_error(
                    self.url, status, headers, "[egov] api_url"), operator=True)
            reason = f"{self.url}: HTTP {status}: {server_message(answer) or 'no reason given'}"
            if status == 401 and not refreshed:
                log.info("%s: token refused (401); fetching a new one", self.url)
                self._token = None
                continue
            if status in (401, 403):
                return Outcome.retry(reason, operator=True)
            if status in RETRY_STATUS or status >= 500:
                return Outcome.retry(reason, retry_after_s(headers))
            return Outcome.refuse(reason)
        return Outcome.retry(f"{self.url}: refused a fresh token", operator=True)

    def _post(self, body: bytes, token: str, key: str) -> tuple[int | None, Any, bytes]:
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
            "Authorization": f"Bearer {token}", "Idempotency-Key": key,
            "User-Agent": "quantrac-collector"})
        try:
            with self._http.open(req, timeout=self.timeout_s) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()
        except (urllib.error.URLError, OSError) as e:  # refused, reset, timeout
            return None, None, str(getattr(e, "reason", e)).encode()

    def _bearer(self, force: bool = False) -> str:
        if not force and self._token and time.monotonic() < self._expires:
            return self._token
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}"
            .encode()).decode()
        req = urllib.request.Request(
            self.token_url, data=urllib.parse.urlencode(form).encode(), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json", "Authorization": f"Basic {basic}"})
        where = f"token endpoint {self.token_url}"
        try:
            with self._http.open(req, timeout=self.timeout_s) as resp:
                doc = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            if safe_transport.is_redirect(e.code):
                raise TokenError(safe_transport.redirect_error(
                    where, e.code, e.headers, "[egov] token_url"), True) from None
            reason = f"{where}: HTTP {e.code}: {server_message(e.read()) or e.reason}"
            transient = e.code in RETRY_STATUS or e.code >= 500
            raise TokenError(reason, not transient,
                             retry_after_s(e.headers) if transient else None) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, ssl.SSLCertVerificationError):  # config: a person fixes it
                raise TokenError(f"{where}: the server's certificate does not verify "
                                 f"({reason.verify_message}); check [egov] api_ca_file and "
                                 "the host name", True) from None
            raise TokenError(f"{where}: {reason}", False) from None
        except ValueError as e:
            raise TokenError(f"{where}: answer is not JSON ({e})", True) from None
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenError(f"{where}: no access_token in the answer", True)
        expires_in = doc.get("expires_in", 3600)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            expires_in = 3600
        margin = min(TOKEN_MARGIN_S, 0.1 * float(expires_in))  # renew a little early
        self._token, self._expires = token, time.monotonic() + float(expires_in) - margin
        self.tokens_fetched += 1
        return token

    def close(self) -> None:
        self._token = None
