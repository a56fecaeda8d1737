"""A Zalo Official Account: one text message per follower (`user_id`), through the OA's
customer-service message API (POST <api>/v3.0/oa/message/cs, the token in the
`access_token` header).

Zalo answers HTTP 200 with a JSON envelope whose `error` says what happened:

| answer                                   | result                                               |
|------------------------------------------|------------------------------------------------------|
| `error` 0                                | delivered                                            |
| `error` -216 (access token invalid/expired) | kept, retried, operator error: renew the token    |
| `error` -32 (the OA reached its call limit) | kept, retried after a minute                      |
| any other `error` (not a follower, …)    | refused for that user: alert dead letters            |
| HTTP 404 (no such API: a wrong address)   | kept, retried, operator error: check zalo_api_url    |
| HTTP 429, 5xx, no connection, timeout    | kept, retried with back-off (Retry-After honoured)   |
"""

from __future__ import annotations

from collector.delivery.backoff import retry_after_s
from collector.sinks.chat.send import Answer, ChatSink

TOKEN_EXPIRED = -216
RATE_LIMITED = -32
RATE_WAIT_S = 60.0  # the OA's limits are counted per minute
PATH = "/v3.0/oa/message/cs"


class ZaloSink(ChatSink):
    name = channel = "zalo"
    token_key = "zalo_access_token"

    def send(self, token: str, recipient: str, text: str) -> Answer:
        url = self.api_url + PATH
        got = self._post(url, url, {"recipient": {"user_id": recipient},
                                    "message": {"text": text}}, {"access_token": token})
        if isinstance(got, Answer):
            return got
        status, doc, headers = got
        if status == 429 or status >= 500:
            return Answer("retry", f"{url}: HTTP {status}", retry_after_s(headers))
        if status == 404:  # no such API: about the address, not the user; nobody would get it
            return Answer("operator", f"{url}: HTTP 404: check zalo_api_url", 0.0)
        if status >= 400:
            return Answer("refused", f"HTTP {status}")
        code = doc.get("error")
        why = f"{url}: Zalo error {code}: {str(doc.get('message', ''))[:200]}"
        if code == 0:
            return Answer("ok")
        if code == TOKEN_EXPIRED:
            return Answer("operator", f"{why}; put a new zalo_access_token in {self.secrets}",
                          0.0)
        if code == RATE_LIMITED:
            return Answer("retry", why, RATE_WAIT_S)
        if not isinstance(code, int):
            return Answer("retry", f"{url}: an answer without Zalo's error envelope")
        return Answer("refused", why)
