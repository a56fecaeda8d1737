"""The stack benches at a short scale: every command runs on its own private stack, prints its
table and writes its JSON, and every reading it sent is stored exactly once. Counts only: no
figure of speed is asserted (machines are noisy)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import boards
from quantrac.bench import firmware_kill
from quantrac.cli.bench import bench

pytestmark = [pytest.mark.services, pytest.mark.slow]


def run(tmp_path, *args: str) -> dict:
    out = tmp_path / "result.json"
    res = CliRunner().invoke(bench, [*args, "--json", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert f"\nbench {args[0]}:" in f"\n{res.output}", res.output  # its table
    return json.loads(out.read_text())


def test_ingest_reports_both_ratios_and_stores_every_reading(tmp_path):
    # Node-RED's rows (e, e2) are tests/bench/test_ingest_nodered.py's
    r = run(tmp_path, "ingest", "--messages", "260", "--naive-messages", "52", "--no-nodered")
    assert r["ratio_vs_ceiling"] > 0 and r["ratio_vs_naive"] > 0
    assert r["lost"] == 0 and r["duplicated"] == 0
    for name in "bcd":
        v = r["variants"][name]
        assert v["stored"] == v["sent"] == v["readings"], (name, v)
    assert r["variants"]["c"]["messages"] == 52


def test_backlog_drains_every_station_without_loss(tmp_path):
    r = run(tmp_path, "backlog", "--stations", "3", "--days", "0.1")
    assert r["records"] == 3 * 144 and r["drain_seconds"] > 0
    assert r["lost"] == 0 and r["duplicated"] == 0 and r["rejected"] == 0
    assert r["stored"] == r["readings"]


def test_latency_measures_queryable_points_and_alerts_per_load(tmp_path):
    r = run(tmp_path, "latency", "--seconds", "2", "--stations", "3")
    assert set(r["loads"]) == {"x1", "x100"}
    for load in r["loads"].values():
        assert load["probes"] >= 4 and load["p50_ms"] <= load["p99_ms"]
        assert load["alerts"] >= 2 and load["alerts_missed"] == 0
    assert r["rejected"] == 0


def test_reliability_loses_and_doubles_nothing_through_every_fault(tmp_path):
    r = run(tmp_path, "reliability", "--outage-s", "3", "--stream-s", "2",
            "--firmware-kills", "4")
    names = [f["name"] for f in r["faults"]]
    assert names == ["broker restart", "InfluxDB restart", "collector SIGKILL",
                     "one worker of several SIGKILLed mid-stream",
                     "firmware SIGKILL during a backlog write", "3-day station outage"]
    for f in r["faults"]:
        assert set(f) >= {"name", "sent", "stored", "lost", "duplicated"}
        assert f["stored"] == f["sent"] and f["lost"] == 0 and f["duplicated"] == 0, f
        if f.get("unit") != "records":
            assert f["sent"] > 50, f
    assert r["faults"][3]["restarts"] == 1, r["faults"][3]
    fw = r["faults"][4]  # counted in records: every run appended one before it was killed
    assert fw["kills"] == 4 and fw["boots"] == 5 and fw["sent"] >= 4, fw
    per_record = len(boards.registry().get(firmware_kill.STATION).params())  # 11 on air
    assert fw["points"] == per_record * fw["sent"] and fw["unexpected"] == 0, fw
