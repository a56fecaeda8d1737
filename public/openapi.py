"""The OpenAPI description of /api/v1/, built from api.LIMITS; public/openapi.json is its
committed copy (a test keeps them equal: `python -m public.openapi` writes it)."""

from __future__ import annotations

import json
from pathlib import Path

from public.api import DEFAULT_LIMIT, LIMITS

FILE = Path(__file__).with_name("openapi.json")


def spec() -> dict:
    sid = {"name": "station", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "registry id, e.g. pq-air-01 (unknown: 404)"}
    when = {"type": "string", "description": "ISO 8601 with a zone (2026-03-02T10:00:00+07:00) "
            f"or epoch seconds; from {LIMITS['oldest_year']}-01-01 to now + 1 day"}

    def history(period: str, span: int, default: str) -> dict:
        return {"get": {
            "summary": f"{period}ly values of one parameter (means, or VN_AQI with param=aqi)",
            "description": f"from..to spans at most {span} days (default: the last {default}); "
                           "invalid data are left out, values not yet approved carry "
                           "preliminary=true; `next` (JSON) or a Link header (CSV) gives the "
                           "next page.",
            "parameters": [sid,
                           {"name": "param", "in": "query", "required": True,
                            "schema": {"type": "string"},
                            "description": "a parameter the station measures, or aqi"},
                           {"name": "from", "in": "query", "schema": when},
                           {"name": "to", "in": "query", "schema": when},
                           {"name": "limit", "in": "query", "schema": {
                               "type": "integer", "minimum": 1, "maximum": LIMITS["limit_max"],
                               "default": DEFAULT_LIMIT}},
                           {"name": "offset", "in": "query", "schema": {
                               "type": "integer", "minimum": 0,
                               "maximum": LIMITS["offset_max"], "default": 0}},
                           {"name": "format", "in": "query", "schema": {
                               "type": "string", "enum": ["json", "csv"], "default": "json"}}],
            "x-max-span-days": span,
            "responses": {"200": {"description": "points, oldest first"},
                          "400": {"description": "a parameter out of its limits, named"},
                          "404": {"description": "unknown station"}}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "Quantrac open data (Phú Quốc air and water)", "version": "1",
                 "description": "Read-only, CORS open, cached (Cache-Control). Limits: "
                                + json.dumps(LIMITS)},
        "x-limits": LIMITS,
        "paths": {
            "/api/v1/stations": {"get": {"summary": "every station",
                                         "responses": {"200": {"description": "list"}}}},
            "/api/v1/stations/{station}": {"get": {"summary": "one station",
                                                   "parameters": [sid], "responses": {
                                                       "200": {"description": "station"},
                                                       "404": {"description": "unknown"}}}},
            "/api/v1/latest": {"get": {"summary": "every station's latest hourly means, "
                                                  "VN_AQI or water status, age and staleness",
                                       "responses": {"200": {"description": "list"}}}},
            "/api/v1/stations/{station}/latest": {"get": {
                "summary": "one station's latest values", "parameters": [sid],
                "responses": {"200": {"description": "latest"},
                              "404": {"description": "unknown"}}}},
            "/api/v1/stations/{station}/hourly": history("hour", LIMITS["hour_span_days"],
                                                         "72 hours"),
            "/api/v1/stations/{station}/daily": history("day", LIMITS["day_span_days"],
                                                        "30 days"),
        },
    }


def text() -> str:
    return json.dumps(spec(), ensure_ascii=False, indent=1) + "\n"


if __name__ == "__main__":
    FILE.write_text(text(), encoding="utf-8")
