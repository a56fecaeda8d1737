"""What each HTTP answer of the write endpoint means for the readings (InfluxSink.write)."""

from __future__ import annotations

import json
import socket

import pytest
from collector_http_script import ScriptedWriteServer

from collector.contracts import Reading
from collector.sinks.influxdb.plugin import InfluxSink


def readings(n: int, bad: set[int] = frozenset()) -> list[Reading]:
    return [Reading(station="pq-air-01", kind="air", param="bad" if i in bad else "so2",
                    unit="ppb", time=1763755200 + 300 * i, value=float(i), status=0)
            for i in range(n)]


@pytest.fixture
def server():
    s = ScriptedWriteServer()
    yield s
    s.close()


@pytest.fixture
def sink(server):
    s = InfluxSink(server.url, "quantrac", "writer", "pw", timeout_s=5)
    yield s
    s.close()


def test_a_2xx_stores_everything_in_one_v2_write(server, sink):
    result = sink.write(readings(3))
    assert result.accepted == [0, 1, 2] and result.rejected == [] and result.retry_after is None
    ((query, headers, lines),) = server.requests
    assert query == {"org": "-", "bucket": "quantrac/autogen", "precision": "s"}
    assert headers["Authorization"] == "Token writer:pw"
    assert lines[0] == ("reading,kind=air,param=so2,station=pq-air-01,unit=ppb "
                        "value=0.0,status=0i,qc=2i,qc_bits=0i,n=0i,flags=0i 1763755200")


def test_a_400_is_narrowed_down_to_the_refused_lines(server, sink):
    # like InfluxDB 1.x: one bad line makes the whole request answer 400 "partial write"
    def answer(lines):
        if any("param=bad" in x for x in lines):
            return 400, {}, json.dumps({"error": "partial write: field type conflict"}).encode()
        return 204, {}, b""
    server.answer = answer
    result = sink.write(readings(9, bad={2, 7}))
    assert sorted(result.accepted) == [0, 1, 3, 4, 5, 6, 8]
    assert sorted(i for i, _ in result.rejected) == [2, 7]
    assert all("HTTP 400: partial write: field type conflict" in why for _, why in result.rejected)
    assert result.retry_after is None
    assert len(server.stored) == 7


def test_a_413_splits_the_batch_until_it_fits(server, sink):
    server.answer = lambda lines: (413, {}, b"too large") if len(lines) > 2 else (204, {}, b"")
    result = sink.write(readings(7))
    assert sorted(result.accepted) == list(range(7)) and result.rejected == []
    assert len(server.requests[0][2]) == 7 and sorted(server.stored) == sorted(
        line for _, _, lines in server.requests[:1] for line in lines)


def test_a_429_keeps_everything_and_honours_retry_after(server, sink):
    server.answer = lambda lines: (429, {"Retry-After": "7"}, b'{"message":"slow down"}')
    result = sink.write(readings(4))
    assert result.accepted == [] and result.rejected == []
    assert result.retry_after == 7.0 and not result.operator
    assert result.error == "HTTP 429: slow down"


def test_a_5xx_keeps_everything_for_a_retry(server, sink):
    server.answer = lambda lines: (503, {}, b"database is starting")
    result = sink.write(readings(2))
    assert result.accepted == [] and result.rejected == [] and result.retry_after == 0.0
    assert result.error == "HTTP 503: database is starting" and not result.operator


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_and_setup_errors_keep_the_data_and_call_an_operator(server, sink, status):
    server.answer = lambda lines: (status, {}, b'{"error":"authorization failed"}')
    result = sink.write(readings(2))
    assert result.accepted == [] and result.rejected == [] and result.retry_after is not None
    assert result.operator and f"HTTP {status}" in result.error


def test_no_server_is_a_retry_naming_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the write: nothing listens there
    sink = InfluxSink(f"http://127.0.0.1:{port}", "quantrac", "w", "p", timeout_s=2)
    try:
        result = sink.write(readings(2))
    finally:
        sink.close()
    assert result.accepted == [] and result.retry_after == 0.0 and not result.operator
    assert f"127.0.0.1:{port}" in result.error


def test_an_unwritable_reading_is_refused_without_holding_the_others(server, sink):
    batch = readings(3)
    batch[1].unit = "mg\\L"
    result = sink.write(batch)
    assert result.accepted == [0, 2]
    assert result.rejected == [(1, "not writable: tag unit='mg\\\\L' holds a line break or "
                                   "backslash")]


def _retraction_batch() -> list:
    from collector.contracts import Point, retraction

    tags = {"station": "pq-air-01", "period": "hour"}
    return [retraction("aqi", tags, 1763758800), Point("aqi", tags, {"complete": True,
                                                                     "aqi": 41}, 1763758800)]


def _write_retraction(server):
    """One write of `_retraction_batch` through a sink that deletes over `server` too."""
    sink = InfluxSink(server.url, "quantrac", "writer", "pw", timeout_s=5,
                      query_url=lambda: server.url)
    try:
        return sink.write(_retraction_batch())
    finally:
        sink.close()


def _deletes(lines: list[str]) -> bool:
    return bool(lines) and lines[0].startswith("db=")


def test_a_retraction_deletes_the_stored_point_before_the_batch_is_written(server):
    from urllib.parse import parse_qs

    result = _write_retraction(server)
    assert sorted(result.accepted) == [0, 1] and result.retry_after is None
    (_q, headers, delete), (_q2, _h2, written) = server.requests  # in this order
    form = {k: v[0] for k, v in parse_qs(delete[0]).items()}
    assert form == {"db": "quantrac", "q": "DELETE FROM \"aqi\" WHERE \"period\" = 'hour' AND "
                                           "\"station\" = 'pq-air-01' AND time = 1763758800s"}
    assert headers["Authorization"] == "Basic d3JpdGVyOnB3"  # writer:pw, never in the URL
    assert written == ["aqi,period=hour,station=pq-air-01 complete=true,aqi=41i 1763758800"]


def test_a_server_without_delete_still_gets_the_writes(server):
    # InfluxDB 2.7's and 3 Core's InfluxQL have no DELETE: the points must not wait for it
    server.answer = lambda lines: ((400, {}, b'{"error":"not implemented: DELETE"}')
                                   if _deletes(lines) else (204, {}, b""))
    result = _write_retraction(server)
    assert sorted(result.accepted) == [0, 1] and result.retry_after is None
    assert len(server.stored) == 1


def test_a_retraction_the_database_cannot_take_now_keeps_the_batch(server):
    server.answer = lambda lines: ((503, {}, b"starting") if _deletes(lines)
                                   else (204, {}, b""))
    result = _write_retraction(server)
    assert result.accepted == [] and result.retry_after == 0.0
    assert "retracting points: HTTP 503" in result.error and server.stored == []
