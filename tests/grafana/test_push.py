"""`quantrac grafana push` against a stand-in for the few Grafana HTTP API endpoints it uses
(no Grafana server can run here): folders by title, dashboards by uid, POST /api/dashboards/db
with overwrite. The real grafana-client talks HTTP to it on a free loopback port."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from quantrac.cli import main

TOKEN = "glsa_test_token"


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.folders: list[dict] = []
        self.dashboards: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self, method: str) -> None:
        s = self.server
        with s.lock:
            s.requests.append((method, self.path))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"message": "invalid API key"})
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))
                              or b"null")
            if (method, self.path) == ("GET", "/api/folders"):
                return self._send(200, s.folders)
            if (method, self.path) == ("POST", "/api/folders"):
                folder = {"id": len(s.folders) + 1, "uid": f"f{len(s.folders) + 1}",
                          "title": body["title"]}
                s.folders.append(folder)
                return self._send(200, folder)
            if method == "GET" and self.path.startswith("/api/dashboards/uid/"):
                held = s.dashboards.get(self.path.rsplit("/", 1)[1])
                if held is None:
                    return self._send(404, {"message": "Dashboard not found"})
                return self._send(200, held)
            if (method, self.path) == ("POST", "/api/dashboards/db"):
                d = dict(body["dashboard"])
                held = s.dashboards.get(d["uid"])
                if held is not None and not body.get("overwrite"):
                    return self._send(412, {"message": "version-mismatch"})
                version = held["dashboard"]["version"] + 1 if held else 1
                d.update(id=held["dashboard"]["id"] if held else len(s.dashboards) + 1,
                         version=version)
                s.dashboards[d["uid"]] = {"dashboard": d,
                                          "meta": {"folderUid": body["folderUid"]}}
                return self._send(200, {"id": d["id"], "uid": d["uid"], "version": version,
                                        "status": "success"})
            return self._send(404, {"message": "not found"})

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")


@pytest.fixture
def grafana_api():
    server = StandIn()
    thread = threading.Thread(target=server.serve_forever, name="grafana-stand-in")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _push(url: str, *extra: str, token: str = TOKEN):
    return CliRunner().invoke(main, ["grafana", "push", "--url", url, "--token", token,
                                     "--lang", "vi", *extra])


def test_a_second_push_changes_nothing(grafana_api):
    first = _push(grafana_api.url)
    assert first.exit_code == 0, first.output
    assert "12 created" in first.output and "folder 'Quan trắc': created" in first.output
    assert [f["title"] for f in grafana_api.folders] == ["Quan trắc"]
    stored = {uid: d["dashboard"]["version"] for uid, d in grafana_api.dashboards.items()}
    assert len(stored) == 12 and set(stored.values()) == {1}
    assert all(d["meta"]["folderUid"] == "f1" for d in grafana_api.dashboards.values())

    grafana_api.requests.clear()
    second = _push(grafana_api.url)
    assert second.exit_code == 0, second.output
    assert "12 unchanged" in second.output and "folder 'Quan trắc': found" in second.output
    assert not [r for r in grafana_api.requests if r[0] == "POST"]
    assert {uid: d["dashboard"]["version"] for uid, d in grafana_api.dashboards.items()} == stored


def test_a_dashboard_edited_in_grafana_is_put_back_under_the_same_uid(grafana_api):
    assert _push(grafana_api.url).exit_code == 0
    held = grafana_api.dashboards["quantrac-alerts"]["dashboard"]
    held["title"] = "edited by hand"
    again = _push(grafana_api.url)
    assert again.exit_code == 0, again.output
    assert "updated    quantrac-alerts" in again.output and "11 unchanged" in again.output
    back = grafana_api.dashboards["quantrac-alerts"]["dashboard"]
    assert back["title"] == "Cảnh báo" and back["version"] == 2 and back["id"] == held["id"]
    assert len(grafana_api.dashboards) == 12 and len(grafana_api.folders) == 1


def test_dry_run_sends_nothing(grafana_api):
    out = _push(grafana_api.url, "--dry-run")
    assert out.exit_code == 0, out.output
    assert grafana_api.requests == []
    assert "12 would push (dry run: nothing sent)" in out.output
    assert "quantrac-overview" in out.output


def test_a_refused_token_is_named(grafana_api):
    out = _push(grafana_api.url, token="wrong")
    assert out.exit_code == 1
    assert "token was refused" in out.output and grafana_api.dashboards == {}


def test_an_unreachable_grafana_is_named():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens once closed
    out = _push(f"http://127.0.0.1:{port}")
    assert out.exit_code == 1 and "unreachable" in out.output


def test_no_token_is_a_clear_error(grafana_api, monkeypatch):
    monkeypatch.delenv("QUANTRAC_GRAFANA_TOKEN", raising=False)
    out = _push(grafana_api.url, token="")
    assert out.exit_code == 1 and "QUANTRAC_GRAFANA_TOKEN" in out.output
    assert grafana_api.requests == []
