"""Shared fixtures: the project's own services on free ports in a per-session run folder.

Nothing here mocks the broker, the database or the firmware; fakes exist only where hardware
would be.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def session_run_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("run")


@pytest.fixture(scope="session")
def services(session_run_dir):
    """Real Mosquitto + InfluxDB (+ v2-write proxy) for the whole test session; the env dict."""
    from collector import services as svc

    env = svc.up(session_run_dir)
    try:
        yield env
    finally:
        svc.down(session_run_dir)


@pytest.fixture
def run_dir(tmp_path) -> Path:
    os.environ.pop("QUANTRAC_RUN_DIR", None)
    return tmp_path
