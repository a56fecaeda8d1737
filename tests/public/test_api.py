"""The open-data API: only public data, every OpenAPI range limit answering 400 one step past
it, clear 4xx for unknown stations and malformed ranges, CSV, CORS and cache headers."""

from __future__ import annotations

import json
import time

import pytest
from public_site import AIR, STALE, get

from public import allowlist, openapi
from public.store import Store
from quantrac_common import influxql

INTERNAL = ("heap", "rssi", "backlog", "errors", "reset", "spool_bytes", "queued", "qc",
            "qc_bits", "status", "raw", "fw", "boot")


def _keys(node, out: set[str]) -> set[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(node, list):
        for v in node:
            _keys(v, out)
    return out


def test_allowlist_publishes_online_state_and_refuses_internal_metrics(public_data):
    env, run_dir = public_data
    store = Store(env, run_dir)
    assert allowlist.allowed("device", "online")
    for measurement, field in (("device", "heap"), ("device", "rssi"), ("collector", "queued"),
                               ("reading", "qc_bits"), ("alert", "text")):
        with pytest.raises(allowlist.NotPublic):
            store.select(measurement, (field,), "time > now() - 1d")
    # `*` on a measurement holding internal fields comes back with the public ones only
    raw = influxql.rows(influxql.query(env, "SELECT * FROM device WHERE time > now() - 3d"))
    assert any(r.get("heap") for r in raw)  # the read-only account can read it …
    rows = store.select("device", ("*",), "time > now() - 3d")  # … the public side cannot
    assert rows and all(set(r) <= {"time", "station", "kind", "message", "online"} for r in rows)


def test_no_answer_carries_an_internal_field(server):
    doc = json.loads(get(server.url + "/api/v1/latest")[2])
    keys = _keys(doc, set())
    assert not keys & set(INTERNAL) - {"status"}, keys & set(INTERNAL)
    assert all("status" not in d["values"].get(p, {}) for d in doc for p in d["values"])
    online = {d["station"]: d["online"] for d in doc}
    assert online["pq-air-01"] is True  # the online state is public


def test_the_server_holds_only_the_read_only_account(public_data):
    env, run_dir = public_data
    store = Store(env, run_dir)
    assert not any("WRITE" in k or "ADMIN" in k or "MQTT" in k for k in store.env)


def test_openapi_file_is_the_code():
    assert openapi.FILE.read_text(encoding="utf-8") == openapi.text(), \
        "run `python -m public.openapi`"


def _past_limits() -> list[tuple[str, str]]:
    """(query, what) one step past each limit the OpenAPI file states."""
    spec = json.loads(openapi.FILE.read_text(encoding="utf-8"))
    now = int(time.time())
    out = []
    for path, op in spec["paths"].items():
        if "{station}" not in path or not path.endswith(("hourly", "daily")):
            continue
        kind = path.rsplit("/", 1)[1]
        span = op["get"]["x-max-span-days"] * 86400
        out.append((f"{kind}?param=pm2_5&from={now - span - 1}&to={now}", f"{kind} span"))
        for p in op["get"]["parameters"]:
            s = p["schema"]
            if "maximum" in s:
                out.append((f"{kind}?param=pm2_5&{p['name']}={s['maximum'] + 1}",
                            f"{p['name']} max"))
            if "minimum" in s:
                out.append((f"{kind}?param=pm2_5&{p['name']}={s['minimum'] - 1}",
                            f"{p['name']} min"))
    year = spec["x-limits"]["oldest_year"]
    out.append((f"hourly?param=pm2_5&from={year - 1}-12-31T23:00:00Z&to={year}-01-01T00:00:00Z",
                "oldest year"))
    out.append((f"hourly?param=pm2_5&to={now + 86400 + 60}", "future"))
    return out


def test_every_openapi_limit_answers_400_one_step_past_it(server):
    cases = _past_limits()
    assert len(cases) >= 8
    for query, what in cases:
        code, headers, body = get(f"{server.url}/api/v1/stations/pq-air-01/{query}")
        assert code == 400, (what, query, code, body)
        assert json.loads(body)["error"], what
    # … and at the limit itself it answers
    spec = json.loads(openapi.FILE.read_text(encoding="utf-8"))
    lim = spec["x-limits"]
    now = int(time.time())
    for query in (f"hourly?param=pm2_5&from={now - lim['hour_span_days'] * 86400}&to={now}",
                  f"daily?param=pm2_5&from={now - lim['day_span_days'] * 86400}&to={now}",
                  f"hourly?param=pm2_5&limit={lim['limit_max']}&offset={lim['offset_max']}"):
        code, _, body = get(f"{server.url}/api/v1/stations/pq-air-01/{query}")
        assert code == 200, (query, body)


@pytest.mark.parametrize("path,code,says", [
    ("/api/v1/stations/pq-nowhere/latest", 404, "pq-nowhere"),
    ("/api/v1/stations/pq-nowhere/hourly?param=pm2_5", 404, "pq-nowhere"),
    ("/api/v1/stations/pq-air-01/hourly?param=heap", 400, "heap"),
    ("/api/v1/stations/pq-air-01/hourly?param=pm2_5&from=yesterday", 400, "yesterday"),
    ("/api/v1/stations/pq-air-01/hourly?param=pm2_5&from=2026-03-02T10:00", 400, "zone"),
    ("/api/v1/stations/pq-air-01/hourly?param=pm2_5&from=99999999999999999999", 400, "from"),
    ("/api/v1/stations/pq-air-01/hourly?param=pm2_5&from=1796000000&to=1795000000", 400,
     "before"),
    ("/api/v1/stations/pq-air-01/hourly?param=pm2_5&limit=ten", 400, "limit"),
    ("/api/v1/stations/pq-air-01/hourly?param=pm2_5&format=xml", 400, "xml"),
    ("/api/v1/stations/pq-air-01/hourly?param=pm2_5&q=drop", 400, "q"),
    ("/api/v1/nothing", 404, "nothing"),
])
def test_bad_requests_get_a_clear_4xx(server, path, code, says):
    got, _, body = get(server.url + path)
    assert got == code, body
    assert says in json.loads(body)["error"]


def test_history_pages_csv_cors_and_cache_headers(server):
    url = f"{server.url}/api/v1/stations/pq-air-01/hourly?param=pm2_5&limit=5"
    code, headers, body = get(url)
    doc = json.loads(body)
    assert code == 200 and len(doc["points"]) == 5 and doc["next"]
    assert headers["access-control-allow-origin"] == "*"
    assert "max-age" in headers["cache-control"]
    code, _, body2 = get(doc["next"])
    page2 = json.loads(body2)["points"]
    assert page2 and page2[0]["time"] > doc["points"][-1]["time"]
    code, headers, csv = get(url + "&format=csv")
    assert headers["content-type"].startswith("text/csv")
    lines = csv.decode().splitlines()
    assert lines[0].startswith("station,param,period,time_utc,value") and len(lines) == 6
    assert 'rel="next"' in headers["link"]


def test_latest_marks_stale_and_preliminary(server):
    doc = {d["station"]: d for d in json.loads(get(server.url + "/api/v1/latest")[2])}
    assert doc[STALE]["stale"] is True
    assert all(doc[s]["stale"] is False for s in AIR if s != STALE)
    assert doc["pq-air-01"]["aqi"]["preliminary"] is True


def test_an_unknown_station_page_is_a_404_page_in_the_visitors_language(server):
    code, _, body = get(server.url + "/station/pq-nowhere?lang=en")
    assert code == 404 and b"No such station" in body and b"pq-nowhere" in body
    code, _, body = get(server.url + "/station/%3Cscript%3E")
    assert code == 404 and b"<script>" not in body  # what was asked is shown escaped


def test_daily_history_is_the_complete_daily_means_with_provisional(server, public_data):
    env, _ = public_data
    stored = influxql.rows(influxql.query(
        env, "SELECT \"value\", \"provisional\" FROM \"derived\".\"mean\" WHERE "
        "\"station\" = 'pq-air-01' AND \"param\" = 'pm2_5' AND \"period\" = '24h' AND "
        "\"complete\" = true AND time > now() - 5d"))
    now = int(time.time())
    code, _, body = get(f"{server.url}/api/v1/stations/pq-air-01/daily?param=pm2_5"
                        f"&from={now - 5 * 86400}&to={now + 3600}")
    assert code == 200, body
    points = json.loads(body)["points"]
    assert [p["time"] for p in points] == [r["time"] for r in stored]
    for p, r in zip(points, stored, strict=True):
        assert p["provisional"] is bool(r["provisional"]) and p["preliminary"] is True


def test_a_database_outage_is_a_503_saying_so(tmp_path):
    import socket

    from public.serve import Background

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens here once the socket is closed
    env = {"QUANTRAC_INFLUX_URL": f"http://127.0.0.1:{closed}", "QUANTRAC_INFLUX_DB": "q",
           "QUANTRAC_INFLUX_READ_USER": "reader", "QUANTRAC_INFLUX_READ_PASSWORD": "x"}
    srv = Background(env, tmp_path).start()
    try:
        for path in ("/api/v1/latest", "/api/v1/stations/pq-air-01/hourly?param=pm2_5",
                     "/?lang=en", "/station/pq-air-01"):
            code, headers, body = get(srv.url + path)
            assert code == 503, (path, code, body[:200])
            assert "database" in body.decode() or "cơ sở dữ liệu" in body.decode(), path
        assert get(srv.url + "/api/v1/stations")[0] == 200  # the registry needs no database
    finally:
        srv.stop()
