"""The suite's own check that nothing it started outlives it (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LEAKY = '''
import subprocess
import sys


def test_starts_a_daemon_and_forgets_it():
    # the shell exits at once: the sleeper is adopted by init, no child of pytest any more
    sleeper = f"{sys.executable} -c 'import time; time.sleep(300)' {mark}"
    subprocess.run(["sh", "-c", f"{sleeper} >/dev/null 2>&1 &"], check=True)
'''


def sleepers(mark: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and mark.encode() in (entry / "cmdline").read_bytes():
                out.append(int(entry.name))
        except OSError:
            continue
    return out


def test_a_daemon_left_running_fails_the_run_and_is_stopped(tmp_path):
    mark = f"{uuid.uuid4().hex}"
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_leaky.py").write_text(LEAKY.replace("{mark}", mark))
    env = {k: v for k, v in os.environ.items() if k != "QUANTRAC_TEST_SESSION"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    try:
        assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
        assert "left 1 processes running" in run.stdout
        assert mark in run.stdout
        time.sleep(0.2)
        assert sleepers(mark) == []
    finally:
        for pid in sleepers(mark):
            os.kill(pid, 9)
