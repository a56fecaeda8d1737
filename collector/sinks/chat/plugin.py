"""Alerts → people's phones: a Zalo Official Account (zalo.py) and a Telegram bot
(telegram.py), beside the webhook and e-mail and through the same durable outbox
(collector/delivery/alert_outputs.py), with Vietnamese text (text.py).

Each gets every alert at or above `min_severity` that reaches people (a silenced station's
does not) for its own recipients (`zalo_to`, `telegram_to`) and for the contact-chain contacts
the alert carries (`to`, collector/alerting/desk.py). Tokens come from the secrets file
(`secrets`, default <run_dir>/secrets/chat.json, mode 0600), never from the config."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from zoneinfo import ZoneInfo

import boards
from collector.alerting.desk import CHAT_ID
from collector.delivery import safe_transport
from collector.plugins import Env, Plugin, register
from collector.sinks.chat.options import ChatOptions
from collector.sinks.chat.send import ChatSink, load_secrets
from collector.sinks.chat.telegram import TelegramSink
from collector.sinks.chat.zalo import ZaloSink

OUTPUTS: dict[str, tuple[type[ChatSink], str]] = {
    "zalo": (ZaloSink, "zalo_access_token"), "telegram": (TelegramSink, "telegram_bot_token")}


def secrets_path(o: ChatOptions, env: Env) -> Path:
    return Path(o.secrets) if o.secrets else env.run_dir / "secrets" / "chat.json"


def check(o: ChatOptions, env: Env) -> None:
    """Refuse at load what would fail at every alert: a recipient that is no user or chat id,
    a non-https API, a missing token, a secrets file others may read."""
    if o.min_severity not in ("info", "warning", "critical"):
        raise ValueError(f"min_severity = {o.min_severity!r}: must be info, warning or "
                         "critical")
    enabled = [n for n in OUTPUTS if getattr(o, n)]
    if not enabled:
        return
    for name in enabled:  # the contact chain's are checked the same way (alerting/desk.py)
        for addr in getattr(o, f"{name}_to"):
            if not CHAT_ID.fullmatch(str(addr)):
                raise ValueError(f"{name}_to: {addr!r} is not a {name} user or chat id "
                                 "(digits, or @name for a public channel)")
    path = secrets_path(o, env)
    secrets = load_secrets(path)
    for name in enabled:
        if err := safe_transport.https_url(f"{name}_api_url", getattr(o, f"{name}_api_url"),
                                           "the token"):
            raise ValueError(err)
        key = OUTPUTS[name][1]
        if not secrets.get(key):
            raise ValueError(f"{name} = true: {path} has no {key} (a JSON object "
                             f'{{"{key}": "…"}}, mode 0600)')
    if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path}: readable by others (mode "
                         f"{stat.S_IMODE(os.stat(path).st_mode):o}); chmod 600")


def build(o: ChatOptions, env: Env) -> dict[str, ChatSink]:
    tz = ZoneInfo(boards.registry(env.registry).timezone)
    out: dict[str, ChatSink] = {}
    for name, (cls, _key) in OUTPUTS.items():
        if getattr(o, name):
            out[name] = cls(getattr(o, f"{name}_api_url"), getattr(o, f"{name}_to"),
                            secrets_path(o, env), min_severity=o.min_severity,
                            timeout_s=o.timeout_s, tz=tz)
    return out


register(Plugin("output", "chat", ChatOptions, build, check))
