"""Node-RED as the peer in `quantrac bench ingest` (e, e2): a real `node red.js` on the bench's
own Mosquitto and InfluxDB, at a short scale. Counts only: no figure of speed is asserted."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from quantrac.bench import ingest, nodered_install
from quantrac.cli.bench import bench

NODERED_KEYS = {"nodered_msgs_per_s", "nodered_lost", "nodered_batched_msgs_per_s",
                "nodered_batched_lost", "ratio_vs_nodered"}


def _node_red_or_skip() -> None:
    try:  # installs the pinned packages into the cache once (npm, by package name)
        nodered_install.ensure(say=lambda _m: None, may_install=False)
    except nodered_install.Unavailable as e:
        pytest.skip(f"Node-RED cannot run here, so its rows cannot be checked: {e}")


@pytest.mark.services
@pytest.mark.slow
def test_ingest_runs_nodered_both_ways_and_counts_what_it_stored(tmp_path):
    _node_red_or_skip()
    out = tmp_path / "result.json"
    res = CliRunner().invoke(bench, ["ingest", "--messages", "130", "--naive-messages", "26",
                                     "--json", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert set(r) >= NODERED_KEYS and r["nodered_skipped"] is None, r
    e, e2 = r["variants"]["e"], r["variants"]["e2"]
    for v in (e, e2):
        assert v["messages"] == 130 and v["sent"] == v["readings"] > 0, v
        assert v["stored"] + v["lost"] == v["sent"] and v["duplicated"] == 0, v
        assert v["writes"] >= 1, v
    assert e["writes"] == 130  # one write per message
    assert e2["stored"] == e2["sent"] and e2["lost"] == 0, e2  # the batched flow keeps up
    assert e["stored"] > 0
    assert r["nodered_lost"] == e["lost"] and r["nodered_batched_lost"] == 0
    assert r["ratio_vs_nodered"] == pytest.approx(
        r["variants"]["d"]["msgs_per_s"] / e2["msgs_per_s"])
    table = res.output
    assert "(e)  Node-RED" in table and "(e2) Node-RED" in table, table
    assert "no durable ack" in table and "no validation, no QC" in table, table  # left out


def test_without_node_the_reason_is_given_and_nothing_is_installed(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(nodered_install.Unavailable, match="node and npm not found on PATH"):
        nodered_install.ensure(search_path=str(empty), may_install=False,
                               cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.services
@pytest.mark.slow
def test_a_node_red_that_cannot_start_costs_only_its_own_rows(tmp_path, monkeypatch):
    node = shutil.which("node") or pytest.skip("no node on PATH")
    broken = tmp_path / "red.js"  # what a damaged install would run
    broken.write_text("console.error('broken install'); process.exit(3);\n")
    monkeypatch.setattr(nodered_install, "ensure", lambda _say: (node, broken))
    r = ingest.run(messages=26, naive_messages=26, say=lambda _m: None)
    assert set(r["variants"]) == set("abcd") and r["lost"] == 0, r
    why = r["nodered_skipped"]
    assert why.startswith("(e) failed: Node-RED") and "node-red.log" in why, why  # its log
    assert all(r[k] is None for k in NODERED_KEYS), r
    lines = ingest.table(r)
    assert sum(line.lstrip().startswith(("(a)", "(b)", "(c)", "(d)")) for line in lines) == 4
    assert "(e, e2) Node-RED skipped: (e) failed: Node-RED" in "\n".join(lines)
