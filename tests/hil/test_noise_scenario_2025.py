"""The night market's evening under QCVN 26:2025 (its three periods, the clock hours and area a
department enters) on the unix-port firmware: hil/scenarios/noise-night-market-2025.yaml."""

from __future__ import annotations

import pytest
from test_noise_scenarios import run_noise_scenario

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_the_2025_noise_scenario_passes(services, session_run_dir, tmp_path):
    run_noise_scenario(session_run_dir, tmp_path, "noise-night-market-2025")
