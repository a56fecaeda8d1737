"""An alert as a chat message: Vietnamese first (what people in the department read), short
enough for a phone's notification, with how to acknowledge it."""

from __future__ import annotations

import time
from datetime import datetime, tzinfo
from typing import Any

EVENT_VI = {"open": "Cảnh báo", "update": "Cập nhật cảnh báo", "close": "Hết cảnh báo",
            "ack": "Đã xác nhận", "escalate": "Chuyển cấp"}
FORECAST_VI = {"warn": "Cảnh báo sớm", "update": "Cập nhật cảnh báo sớm",
               "close": "Hết cảnh báo sớm"}  # a forecaster's warning (`forecast: true`)
SEVERITY_VI = {"info": "thông tin", "warning": "cảnh báo", "critical": "nghiêm trọng"}
LIMIT = 2000  # Zalo's text message limit; Telegram's is 4096


def message(doc: dict[str, Any], tz: tzinfo | None) -> str:
    event = str(doc.get("event", "open"))
    t = int(doc.get("t", time.time()))
    when = (datetime.fromtimestamp(t, tz) if tz else datetime.fromtimestamp(t)).strftime(
        "%H:%M %d/%m/%Y")
    forecast = doc.get("forecast") is True
    kind = f"{FORECAST_VI.get(event, event)} (dự báo, không phải số đo)" if forecast \
        else EVENT_VI.get(event, event)
    lines = [f"[Quantrac] {kind}: {doc.get('st', '')} {doc.get('rule', '')}",
             str(doc.get("text_vi", "")),
             # a forecast's English text too: it says the day, the lead time and the range
             *([str(doc["text_en"])] if forecast and doc.get("text_en") else []),
             f"Mức độ: {SEVERITY_VI.get(str(doc.get('severity')), doc.get('severity'))}"
             f" · Lúc: {when}"]
    if doc.get("state") == "open" and event != "ack" and "ack" not in doc:
        lines.append(f"Xác nhận: quantrac alerts ack {doc.get('id', '')} --note \"…\"")
    text = "\n".join(lines)
    return text if len(text) <= LIMIT else text[:LIMIT - 1] + "…"
