"""A Telegram bot: one text message per chat (`chat_id`), POST <api>/bot<token>/sendMessage.
The token is part of the URL, so errors and logs name the URL as <api>/bot***/sendMessage.

| answer                                        | result                                          |
|-----------------------------------------------|-------------------------------------------------|
| `ok` true                                     | delivered                                       |
| 401 Unauthorized (token revoked or wrong)     | kept, retried, operator error: renew the token  |
| 404 Not Found (a malformed token, wrong URL)  | kept, retried, operator error: check both       |
| 429 Too Many Requests                         | kept, retried after `parameters.retry_after`    |
| 400 (chat not found), 403 (bot blocked, kicked) | refused for that chat: alert dead letters     |
| 5xx, no connection, timeout                   | kept, retried with back-off                     |
"""

from __future__ import annotations

from collector.delivery.backoff import retry_after_s
from collector.sinks.chat.send import Answer, ChatSink


class TelegramSink(ChatSink):
    name = channel = "telegram"
    token_key = "telegram_bot_token"

    def send(self, token: str, recipient: str, text: str) -> Answer:
        shown = f"{self.api_url}/bot***/sendMessage"
        got = self._post(f"{self.api_url}/bot{token}/sendMessage", shown,
                         {"chat_id": recipient, "text": text}, {})
        if isinstance(got, Answer):
            return got
        status, doc, headers = got
        why = f"{shown}: HTTP {status}: {str(doc.get('description', ''))[:200]}"
        if status == 200 and doc.get("ok") is True:
            return Answer("ok")
        if status == 401:
            return Answer("operator", f"{why}; put a valid telegram_bot_token in "
                          f"{self.secrets}", 0.0)
        if status == 404:  # the API knows no such bot or method: a wrong address or a token
            # that is not a bot token at all, so every chat would be refused and lose the alert
            return Answer("operator", f"{why}; check telegram_api_url and the "
                          f"telegram_bot_token in {self.secrets}", 0.0)
        if status == 429:
            params = doc.get("parameters")
            after = params.get("retry_after") if isinstance(params, dict) else None
            wait = float(after) if isinstance(after, int | float) else retry_after_s(headers)
            return Answer("retry", why, wait)
        if status >= 500 or status == 200:
            return Answer("retry", why, retry_after_s(headers))
        return Answer("refused", why)
