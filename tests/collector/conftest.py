"""Fixtures the collector tests share."""

from __future__ import annotations

import pytest
from collector_live import WAIT_S

from collector.config import Settings
from collector.pipeline import Collector


@pytest.fixture
def collectors():
    """Start collectors through this; each is stopped at the end even if the test fails."""
    made: list[Collector] = []

    def start(s: Settings) -> Collector:
        c = Collector(s)
        made.append(c)
        c.start()
        assert c.wait_ready(WAIT_S), "collector never subscribed"
        return c
    yield start
    for c in made:
        c.stop()
