"""Alert and index points → the JSON documents pushed to the e-government endpoint, each with
its idempotency key. Pure functions.

    {"type": "alert", "key": "alert/pq-air-01/qcvn05.so2.1h/1763758800/open",
     "network": "phu-quoc", "station": "pq-air-01", "station_code": "PQ01",
     "time": "2025-11-22T04:00:00+07:00", "t": 1763758800, "alert": {…protocol-v1 alert…}}
    {"type": "aqi", "key": "aqi/pq-air-01/1763758800/3f9a1c2b7d", "period": "hour",
     "aqi": 144, "band": "poor", "dominant": "so2", "sub": {"so2": 144, "pm10": 41},
     "colour": "#ff7e00", "advice": {"health": {"vi": …, "en": …}, "general": …, "sensitive": …}, …}
    {"type": "aqi", "key": "aqi/pq-air-01/day/1763830800/8d2e0a9c41", "period": "day",
     "aqi": 61, …}
    {"type": "wqi", "key": …, "wqi": 87, "class": "good", "status": "computed",
     "sub": {"ph": 100.0, "do": 75.0, "nh4": 100.0}, …}

A `wqi` point without the official `wqi` field (status not_computed: only an indicative
value, or a station VN_WQI does not apply to) is never sent.

The daily VN_AQI (period `day`, stamped at the local midnight ending the day) goes beside the
hourly one; its key has `day/` before the time, because the day's last hour ends at the same
midnight and the hourly keys stay what they were.

An alert's key is its id and event (an `update` adds its time), so each transition is sent
once. An index's key ends with a digest of its values: the same hour recomputed with the same
result is the same key (not sent again); recomputed with a different result (late data) it is
a new key and the endpoint receives the correction.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.contracts import Point
from collector.domain import aqi_health


def local_time(t: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, tz).isoformat()


def _base(kind: str, key: str, p: Point, network: str, code: str, tz: ZoneInfo) -> dict:
    return {"type": kind, "key": key, "network": network, "station": p.station,
            "station_code": code, "time": local_time(p.time, tz), "t": p.time}


def alert_doc(p: Point, network: str, code: str, tz: ZoneInfo) -> tuple[str, dict[str, Any]]:
    note = p.note or {}
    event = str(note.get("event", p.fields.get("event", "")))
    aid = str(note.get("id", p.fields.get("id", f"{p.station}/{p.tags.get('rule')}")))
    key = f"alert/{aid}/{event}" + (f"/{p.time}" if event == "update" else "")
    # `to`: the department's own contact chain (people's addresses), not the province's
    return key, {**_base("alert", key, p, network, code, tz),
                 "alert": {k: v for k, v in note.items() if k != "to"}}


def index_doc(p: Point, network: str, code: str,
              tz: ZoneInfo) -> tuple[str, dict[str, Any]] | None:
    """An hourly or daily `aqi` or an hourly `wqi` point with a value → (key, document);
    else None."""
    kind = p.measurement
    period = p.tags.get("period")
    if kind == "aqi" and (period not in ("hour", "day") or "aqi" not in p.fields):
        return None
    if kind == "wqi" and "wqi" not in p.fields:
        return None
    if kind not in ("aqi", "wqi"):
        return None
    sub = {k.removeprefix("sub_"): v for k, v in sorted(p.fields.items())
           if k.startswith("sub_")}
    main = {k: v for k, v in sorted(p.fields.items()) if not k.startswith("sub_")}
    digest = hashlib.sha1(json.dumps([main, sub], sort_keys=True).encode()).hexdigest()[:10]
    day = "day/" if kind == "aqi" and period == "day" else ""
    key = f"{kind}/{p.station}/{day}{p.time}/{digest}"
    doc = _base(kind, key, p, network, code, tz)
    extra: dict[str, Any] = {}
    if kind == "aqi":
        doc["period"] = period
        # what the band means travels with the number (Decision 1459, Bảng 3); from the
        # value, so the key (the values' digest) is unchanged
        advice = aqi_health.of_aqi(float(p.fields["aqi"]))  # type: ignore[arg-type]
        extra = {"colour": advice["colour"], "advice": advice}
    # sent within its hour, before anyone checked the data (collector/review): preliminary,
    # as Decision 1459 calls data not yet through QA/QC; the same for every document, so the
    # key is unchanged
    return key, {**doc, **main, "sub": sub, **extra, "review": "preliminary"}
