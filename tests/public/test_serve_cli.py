"""`quantrac public serve` and the demo's public page: started like the rest of the stack."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from public_site import get

from quantrac.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_a_bad_listen_address_and_a_run_dir_without_services(tmp_path):
    res = CliRunner().invoke(main, ["public", "serve", "--listen", "nowhere"])
    assert res.exit_code == 2 and "HOST:PORT" in res.output
    res = CliRunner().invoke(main, ["public", "serve", "--run-dir", str(tmp_path)])
    assert res.exit_code == 1 and str(tmp_path) in res.output


def test_serve_answers_the_page_the_api_and_sensorthings(services, session_run_dir):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", "from quantrac.cli import main; main()",
                             "public", "serve", "--listen", f"127.0.0.1:{port}",
                             "--run-dir", str(session_run_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                code, _, body = get(base + "/")
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "not serving"
                time.sleep(0.2)
        assert code == 200 and b'lang="vi"' in body
        assert get(base + "/api/v1/stations")[0] == 200
        assert get(base + "/sta/v1.1/Things")[0] == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)


def test_the_demo_serves_the_page_on_a_free_port_when_its_own_is_taken(services,
                                                                        session_run_dir):
    from quantrac.demo import _public

    said: list[str] = []
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        site = _public(services, session_run_dir, ("127.0.0.1", taken), None, said.append)
        try:
            assert site is not None and not site.url.endswith(f":{taken}")
            assert any(site.url in line for line in said)
            assert get(site.url + "/")[0] == 200
        finally:
            site.stop()
