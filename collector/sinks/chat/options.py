"""[sinks.chat] options (registered by the plugin; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field


def _opt(default, lo=None, hi=None, doc=""):
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True)
class ChatOptions:
    """[sinks.chat]"""

    zalo: bool = _opt(False, doc="send alerts through a Zalo Official Account")
    zalo_api_url: str = _opt("https://openapi.zalo.me", doc="the Zalo OA API's base URL")
    zalo_to: tuple[str, ...] = _opt((), doc="Zalo user ids (followers of the OA) that get "
                                    "every alert")
    telegram: bool = _opt(False, doc="send alerts through a Telegram bot")
    telegram_api_url: str = _opt("https://api.telegram.org",
                                 doc="the Telegram Bot API's base URL")
    telegram_to: tuple[str, ...] = _opt((), doc="Telegram chat ids that get every alert")
    secrets: str = _opt("", doc="JSON file with zalo_access_token, telegram_bot_token; "
                        "empty: <run_dir>/secrets/chat.json")
    min_severity: str = _opt("warning", doc="info, warning or critical: the least that is sent")
    timeout_s: float = _opt(10.0, 0.1, 600, "timeout of one HTTP request")
