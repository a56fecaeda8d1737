"""The ASGI application: the page at `/`, the open-data JSON under `/api/v1/`, SensorThings
under `/sta/v1.1/`. Every answer about data comes from `Store`, so a visitor spike is served
from its cache; bad input is a 4xx naming what is wrong, a database outage a 503."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from public import api, facts, page, sta
from public.labels import lang_of
from public.store import Store
from quantrac_common import influxql

log = logging.getLogger("quantrac.public")
OPENAPI = Path(__file__).with_name("openapi.json")
PAGE_MAX_AGE = 60


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status,
                        headers={"Cache-Control": f"public, max-age={PAGE_MAX_AGE}",
                                 "Content-Security-Policy": "default-src 'none'; style-src "
                                 "'unsafe-inline'; img-src 'self'; base-uri 'none'; "
                                 "form-action 'none'; frame-ancestors 'none'",
                                 "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


class ReadOnly:
    """CORS preflight answered, anything but GET/HEAD refused: the service only reads."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        method = scope.get("method", "GET") if scope["type"] == "http" else "GET"
        if method == "OPTIONS":
            resp = Response(status_code=204, headers={**api.CORS,
                                                      "Access-Control-Max-Age": "86400"})
            return await resp(scope, receive, send)
        if method not in ("GET", "HEAD"):
            return await api.error(405, f"{method}: this service is read-only (GET)")(
                scope, receive, send)
        return await self.app(scope, receive, send)


async def _bad(request: Request, exc: Exception) -> Response:
    return api.error(400, str(exc))


async def _unsupported(request: Request, exc: Exception) -> Response:
    return api.error(501, str(exc))


async def _missing(request: Request, exc: Exception) -> Response:
    return api.error(404, str(exc))


async def _database(request: Request, exc: Exception) -> Response:
    log.error("database: %s", exc)
    if request.url.path.startswith(("/api/", "/sta/")):
        return api.error(503, "the database is not answering; try again in a minute")
    lang = lang_of(request.query_params.get("lang"))
    return HTMLResponse(page.unavailable(lang), status_code=503,
                        headers={"Cache-Control": "no-store", "Retry-After": "60"})


def build(store: Store) -> Starlette:
    async def index(request: Request) -> Response:
        lang = lang_of(request.query_params.get("lang"))
        gen, latest = store.latest_cached() or await _run(store.latest_versioned)
        return _html(store.cache.get(("page", lang, gen), store.latest_ttl_s,
                                     lambda: page.index(latest, lang)))

    async def station(request: Request) -> Response:
        lang = lang_of(request.query_params.get("lang"))
        sid = request.path_params["sid"]
        try:
            s = facts.network().get(sid)
        except Exception:
            return _html(page.not_found(lang, sid), 404)
        latest = (await _run(store.latest))[sid]
        now = int(time.time()) // 60 * 60  # one cache entry per minute
        params = ["aqi"] if facts.is_air(s) else [lim.param for lim in
                                                    facts.hourly_limits(sid)][:4]
        hist = {}
        for p in params:
            hist[p] = (await _run(lambda p=p: store.history(
                sid, p, "hour", now - 72 * 3600, now, 1000, 0)))[0]
        fc = await _run(lambda: store.forecast(sid))
        return _html(page.station(s, latest, hist, fc, lang))

    async def api_root(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + "/api/v1"
        return api.json_response({"stations": f"{base}/stations", "latest": f"{base}/latest",
                                  "openapi": f"{base}/openapi.json", "limits": api.LIMITS},
                                 3600)

    async def stations(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + "/api/v1"
        return api.json_response([api.station_doc(s, base) for s in facts.network().stations],
                                 3600)

    async def one_station(request: Request) -> Response:
        base = str(request.base_url).rstrip("/") + "/api/v1"
        return api.json_response(api.station_doc(api.get_station(request.path_params["sid"]),
                                                 base), 3600)

    async def latest(request: Request) -> Response:
        # a cached answer straight from the event loop: no thread hop on the hot path
        gen, doc = store.latest_cached() or await _run(store.latest_versioned)
        body = store.cache.get(("latest-json", gen), store.latest_ttl_s, lambda: json.dumps(
            [api.public_latest(d) for d in doc.values()], ensure_ascii=False,
            separators=(",", ":")))
        return Response(body, media_type="application/json",
                        headers={**api.CORS, "Cache-Control": "public, max-age=15"})

    async def station_latest(request: Request) -> Response:
        s = api.get_station(request.path_params["sid"])
        return api.json_response(api.public_latest((await _run(store.latest))[s.id]), 15)

    async def hourly(request: Request) -> Response:
        return await _run(lambda: api.history(store, request, request.path_params["sid"],
                                              "hour"))

    async def daily(request: Request) -> Response:
        return await _run(lambda: api.history(store, request, request.path_params["sid"],
                                              "day"))

    async def openapi(request: Request) -> Response:
        return Response(OPENAPI.read_bytes(), media_type="application/json",
                        headers={**api.CORS, "Cache-Control": "public, max-age=3600"})

    async def api_missing(request: Request) -> Response:
        return api.error(404, f"no such endpoint {request.url.path}; see /api/v1/openapi.json")

    routes = [
        Route("/", index),
        Route("/station/{sid}", station),
        Route("/api/v1", api_root), Route("/api/v1/", api_root),
        Route("/api/v1/openapi.json", openapi),
        Route("/api/v1/stations", stations),
        Route("/api/v1/stations/{sid}", one_station),
        Route("/api/v1/latest", latest),
        Route("/api/v1/stations/{sid}/latest", station_latest),
        Route("/api/v1/stations/{sid}/hourly", hourly),
        Route("/api/v1/stations/{sid}/daily", daily),
        Mount("/sta/v1.1", routes=sta.routes(store)),
        Route("/api/{rest:path}", api_missing),
    ]
    handlers = {api.BadRequest: _bad, sta.ODataError: _bad, sta.Unsupported: _unsupported,
                api.NotFound: _missing,
                sta.NotFound: _missing, influxql.QueryError: _database}
    return Starlette(routes=routes, middleware=[Middleware(ReadOnly)],
                     exception_handlers=handlers)


async def _run(fn):
    """Blocking database reads off the event loop."""
    from starlette.concurrency import run_in_threadpool
    return await run_in_threadpool(fn)
