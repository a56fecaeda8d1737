"""`quantrac bench ota`: a few updates killed in their download and their switch (the bench's
default is 50): each boot after a kill runs a valid version, each update completes, no record
the station logged is lost."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from quantrac.cli import main

pytestmark = [pytest.mark.slow]


def test_ota_updates_killed_at_random_moments_boot_valid_and_lose_no_record(tmp_path):
    out = tmp_path / "ota.json"
    result = CliRunner().invoke(main, ["bench", "ota", "--kills", "4", "--seed", "7",
                                       "--json", str(out)])
    assert result.exit_code == 0, result.output
    r = json.loads(out.read_text())
    assert r["kills"] == 4 and r["boots_after_kill"] == 4 == r["boots_valid"]
    assert sum(r["killed_in"].values()) == 4 and r["killed_in"]["download"] >= 1
    assert r["updates_completed"] == 5
    assert r["records_logged"] > 0 and r["lost"] == 0
    # two slots and the download fit beside the 1 MiB backlog on a 4 MB DevKitC
    assert r["flash_peak_bytes"] < 2_031_616 - 1_048_576
    assert r["bundle_bytes"] <= r["slot_limit_bytes"]
    assert "records lost           0" in result.output
    # what a download adds to the fullest air station's heap, measured over a real download
    assert r["ota_downloaded"] and r["ota_heap_extra_bytes"] > 0
    assert r["ota_heap_goal_met"] == (r["ota_heap_peak_bytes"] <= 64 * 1024)
    assert r["base_heap_peak_bytes"] <= 64 * 1024  # no update: the goal holds
    assert "heap peak, downloading" in result.output
