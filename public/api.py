"""The open-data JSON API under /api/v1/: stations, latest values, hourly and daily history
per station and parameter (bounded ranges, paging), CSV; CORS open, cache headers. Every
limit is in LIMITS, which openapi.json states and a test holds equal."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

import boards
from public import facts
from public.store import Store

LIMITS = {
    "hour_span_days": 31,  # an hourly request covers at most 31 days
    "day_span_days": 366,  # a daily request at most 366 days
    "limit_max": 1000,  # points per page
    "offset_max": 100000,
    "oldest_year": 2000,  # times before this (or after now + 1 day) are refused
}
DEFAULT_SPAN = {"hour": 3 * 86400, "day": 30 * 86400}
DEFAULT_LIMIT = 500
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, OPTIONS"}


class BadRequest(ValueError):
    """A 400 whose message says what is wrong."""


class NotFound(LookupError):
    pass


def json_response(doc: object, max_age: int, status: int = 200) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False, separators=(",", ":")),
                    status_code=status, media_type="application/json",
                    headers={**CORS, "Cache-Control": f"public, max-age={max_age}"})


def error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}, ensure_ascii=False), status_code=status,
                    media_type="application/json",
                    headers={**CORS, "Cache-Control": "no-store"})


def parse_time(text: str, name: str, now: float) -> int:
    text = text.strip()
    try:
        if text.lstrip("-").isdigit():
            t = int(text)
        else:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if dt.tzinfo is None:
                raise BadRequest(f"{name}={text!r}: give a time zone (Z or +07:00) or epoch "
                                 f"seconds")
            t = int(dt.timestamp())
    except (ValueError, OverflowError) as e:
        if isinstance(e, BadRequest):
            raise
        raise BadRequest(f"{name}={text!r} is not a time (ISO 8601 with a zone, or epoch "
                         f"seconds)") from None
    oldest = int(datetime(LIMITS["oldest_year"], 1, 1, tzinfo=UTC).timestamp())
    if t < oldest or t > now + 86400:
        raise BadRequest(f"{name}={text!r} is outside {LIMITS['oldest_year']}-01-01 .. "
                         f"now + 1 day")
    return t


def parse_int(q: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw!r} is not a whole number") from None
    if not lo <= v <= hi:
        raise BadRequest(f"{name}={v} is outside {lo}..{hi}")
    return v


def station_doc(s, base: str) -> dict:
    return {"id": s.id, "name": s.name, "kind": s.kind, "lat": s.lat, "lon": s.lon,
            "regulation": s.regulation, "column": s.column,
            "params": sorted(s.params()) + (["aqi"] if facts.is_air(s) else []),
            "links": {"latest": f"{base}/stations/{s.id}/latest",
                      "hourly": f"{base}/stations/{s.id}/hourly?param=",
                      "daily": f"{base}/stations/{s.id}/daily?param="}}


def public_latest(doc: dict) -> dict:
    out = {k: doc[k] for k in ("station", "last_seen", "age_s", "stale", "online", "values")}
    for k in ("aqi", "water", "wqi"):
        if k in doc:
            out[k] = doc[k]
    return out


def get_station(station_id: str):
    try:
        return facts.network().get(station_id)
    except boards.BoardsError:
        raise NotFound(f"no station {station_id!r}; /api/v1/stations lists them") from None


def history_args(request: Request, station, period: str, now: float) -> tuple:
    q = dict(request.query_params)
    unknown = set(q) - {"param", "from", "to", "limit", "offset", "format"}
    if unknown:
        raise BadRequest(f"unknown query parameters: {sorted(unknown)}")
    param = q.get("param", "")
    allowed = set(station.params()) | ({"aqi"} if facts.is_air(station) else set())
    if param not in allowed:
        raise BadRequest(f"param={param!r}: {station.id} publishes {sorted(allowed)}")
    # a default end on the minute: a minute's requests share one cache entry
    end = parse_time(q["to"], "to", now) if "to" in q else int(now) // 60 * 60
    start = parse_time(q["from"], "from", now) if "from" in q else end - DEFAULT_SPAN[period]
    if start >= end:
        raise BadRequest("from must be before to")
    span_days = LIMITS["hour_span_days" if period == "hour" else "day_span_days"]
    if end - start > span_days * 86400:
        raise BadRequest(f"from..to spans {(end - start) / 86400:g} days; at most {span_days} "
                         f"days per {period}ly request (page through longer periods)")
    limit = parse_int(q, "limit", DEFAULT_LIMIT, 1, LIMITS["limit_max"])
    offset = parse_int(q, "offset", 0, 0, LIMITS["offset_max"])
    fmt = q.get("format", "json")
    if fmt not in ("json", "csv"):
        raise BadRequest(f"format={fmt!r}: json or csv")
    return param, start, end, limit, offset, fmt


def history(store: Store, request: Request, station_id: str, period: str) -> Response:
    now = time.time()
    station = get_station(station_id)
    param, start, end, limit, offset, fmt = history_args(request, station, period, now)
    points, more = store.history(station.id, param, period, start, end, limit, offset)
    base = str(request.url.replace(query=""))
    nxt = None
    if more:
        qs = dict(request.query_params) | {"from": str(start), "to": str(end),
                                           "offset": str(offset + limit), "limit": str(limit)}
        nxt = base + "?" + "&".join(f"{k}={v}" for k, v in qs.items())
    max_age = 60 if end > now - 7200 else 3600
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["station", "param", "period", "time_utc", "value", "unit", "preliminary"])
        for p in points:
            w.writerow([station.id, param, period,
                        datetime.fromtimestamp(p["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        p["value"], p.get("unit", ""), str(p["preliminary"]).lower()])
        headers = {**CORS, "Cache-Control": f"public, max-age={max_age}",
                   "Content-Disposition": f'attachment; filename="{station.id}-{param}-'
                                          f'{period}.csv"'}
        if nxt:
            headers["Link"] = f'<{nxt}>; rel="next"'
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    return json_response({"station": station.id, "param": param, "period": period,
                          "from": start, "to": end, "limit": limit, "offset": offset,
                          "points": points, "next": nxt}, max_age)
