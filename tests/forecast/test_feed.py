"""The external forecast feed, read from a local HTTP server answering with a response in the
public API's format (nothing outside this machine can be reached here)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from forecast.feed import FeedError, aligned, fetch

ANSWER = (Path(__file__).parent / "data" / "feed_air_quality.json").read_bytes()
ISSUED = int(datetime(2026, 3, 1, 5, tzinfo=UTC).timestamp())


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.startswith("/moved"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()
            return
        body = b"<html>busy</html>" if self.path.startswith("/html") else ANSWER
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = False
    th = threading.Thread(target=srv.serve_forever)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        th.join()


def test_the_feed_gives_each_target_hours_value(server):
    got = fetch(f"{server}/v1/air-quality?hourly=pm10,pm2_5", ("pm2_5", "pm10"))
    pm25 = aligned(got["pm2_5"], ISSUED, 5)
    assert pm25[:4] == [20.1, 21.7, 23.5, 24.9] and math.isnan(pm25[4])
    pm10 = aligned(got["pm10"], ISSUED, 4)
    assert pm10[0] == 31.4 and math.isnan(pm10[2])  # null: a missing hour, not zero


@pytest.mark.parametrize("path, variables, says", [
    ("/moved", ("pm2_5",), "redirects are not followed"),
    ("/html", ("pm2_5",), "the answer is not JSON"),
    ("/ok", ("ozone",), "'hourly.ozone' is missing (the answer has: pm10, pm2_5)"),
])
def test_a_bad_answer_is_named(server, path, variables, says):
    with pytest.raises(FeedError, match=r".*") as e:
        fetch(server + path, variables)
    assert says in str(e.value)


def test_a_feed_url_off_this_machine_must_be_https():
    with pytest.raises(FeedError, match="plain http would send the feed's API key"):
        fetch("http://air.example.org/v1?apikey=k", ("pm2_5",))
