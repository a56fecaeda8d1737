"""Shared fixtures: the project's own services on free ports in a per-session run folder.

Nothing here mocks the broker, the database or the firmware; fakes exist only where hardware
would be.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def session_run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="session")
def services(session_run_dir):
    """Real Mosquitto + InfluxDB (+ v2-write proxy) for the whole test session; the env dict.
    A throwaway stack: it has the `bench` account, which publishes as any station."""
    from collector import services as svc

    env = svc.up(session_run_dir, bench=True)
    try:
        yield env
    finally:
        svc.down(session_run_dir)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    os.environ.pop("QUANTRAC_RUN_DIR", None)
    return tmp_path


def _children() -> dict[int, str]:
    """Live child processes of this pytest process: pid -> command line."""
    me, out = os.getpid(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if int(ppid) == me and state != "Z":
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                out[int(entry.name)] = cmdline.decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    return out


def _service_pids(run: Path) -> set[int]:
    try:
        doc = json.loads((run / "services.json").read_text())
    except (OSError, ValueError):
        return set()
    found: set[int] = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pid" and isinstance(value, int):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return found


@pytest.fixture(autouse=True)
def leaves_nothing_behind(session_run_dir):
    """Fail a test that leaves processes or threads running (the session's services excepted)."""
    before_procs = set(_children())
    before_threads = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        procs = {p: c for p, c in _children().items()
                 if p not in before_procs and p not in _service_pids(session_run_dir)}
        threads = [t for t in threading.enumerate() if t not in before_threads and t.is_alive()]
        if not procs and not threads or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not procs, f"test left processes running: {procs}"
    assert not threads, f"test left threads running: {[t.name for t in threads]}"
