"""Shared fixtures: the project's own services on free ports in a per-session run folder.

Nothing here mocks the broker, the database or the firmware; fakes exist only where hardware
would be.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Every process this test session starts inherits this mark (daemons included: our services
# copy the environment), so the end of the session finds whatever is still running, even a
# daemon init adopted after its starter exited.
SESSION_MARK = f"QUANTRAC_TEST_SESSION={uuid.uuid4().hex}"
os.environ["QUANTRAC_TEST_SESSION"] = SESSION_MARK.split("=", 1)[1]


# Test files are handed to the xdist workers (scripts/test) in collection order, so the longest
# ones go first: a five-minute scenario handed out last would run alone after everything else.
LONGEST_FIRST = (  # minutes each on two cores, from `--durations`
    "tests/collector/test_reliability.py", "tests/hil/test_all_scenarios.py",
    "tests/hil/test_noise_scenarios.py", "tests/hil/test_noise_scenario_2025.py",
    "tests/bench/test_bench_ota.py", "tests/hil/test_ota_scenarios.py",
    "tests/cli/test_fleet_cli.py", "tests/e2e/test_pm25_day.py",
)


def pytest_collection_modifyitems(session, config, items):
    def weight(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        if path in LONGEST_FIRST:
            return LONGEST_FIRST.index(path)
        return len(LONGEST_FIRST) + (0 if path in slow else 1)

    slow = {i.nodeid.split("::", 1)[0] for i in items if i.get_closest_marker("slow")}
    items.sort(key=weight)  # stable: a file's tests keep their order


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


def _marked_processes(basetemp: str | None) -> dict[int, str]:
    """Live processes other than this one that carry this session's mark in their environment,
    or that run from (or name) a folder under pytest's base temp folder."""
    found, me = {}, os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
            try:
                marked = SESSION_MARK.encode() in (entry / "environ").read_bytes()
                cwd = os.readlink(entry / "cwd")
            except OSError:
                marked, cwd = False, ""
        except (OSError, IndexError):
            continue
        if marked or basetemp and (basetemp in cmdline or cwd.startswith(basetemp)):
            found[int(entry.name)] = f"{cmdline}  (cwd {cwd})"
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """After every fixture's teardown: nothing the suite started may still run. Whatever does
    is named, stopped, and fails the run. Each xdist worker checks its own; the controller runs
    last, after xdist has shut its workers down (they carry its mark)."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = str(factory.getbasetemp()) if factory and factory._basetemp else None
    deadline = time.monotonic() + 5
    while (left := _marked_processes(basetemp)) and time.monotonic() < deadline:
        time.sleep(0.2)  # a daemon told to stop a moment ago may still be exiting
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"the test run left {len(left)} processes running (now stopped):",
             *(f"  pid {pid}: {what}" for pid, what in sorted(left.items()))]
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if reporter:
        reporter.write_sep("=", "processes left running", red=True)
        reporter.write_line("\n".join(lines))
    else:
        print("\n".join(lines))
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


# -- boards files as a test edits them (tests/boards, the collector and grafana tests of a
# station with two probes of one parameter) ----------------------------------------------------

BoardsEdit = Callable[[dict], None]


@pytest.fixture
def edited(monkeypatch) -> Iterator[Callable[[str, BoardsEdit], None]]:
    """edited("catalog/qt-ph-485", fn): the loader reads that file as fn leaves it."""
    import boards

    real = boards._read
    edits: dict[str, list[BoardsEdit]] = {}

    def read(path: Path) -> dict:
        doc = real(path)
        for fn in edits.get(f"{path.parent.name}/{path.stem}", []):
            fn(doc)
        return doc

    from collector.processors.validate.plugin import station_facts

    # validate keeps each registry's station facts (kind, parameters) for the whole process:
    # an earlier test's collector must not leave them as they were before this edit
    caches = (boards.catalog, boards.profile, boards.registry, station_facts)

    def edit(name: str, fn: BoardsEdit) -> None:
        edits.setdefault(name, []).append(fn)
        for cached in caches:
            cached.cache_clear()

    monkeypatch.setattr(boards, "_read", read)
    yield edit
    monkeypatch.undo()
    for cached in caches:
        cached.cache_clear()
