"""`quantrac bench public` measures the cached endpoints and the direct InfluxDB statements
from a second process (no figure is asserted: speed is reported, not tested)."""

from __future__ import annotations

from public import allowlist
from quantrac.bench import public as bench


def test_bench_public_reports_both_endpoints_beside_the_direct_statements(public_data):
    env, run_dir = public_data
    said: list[str] = []
    r = bench.run(say=said.append, seconds=1.0, concurrency=2, env=env, run_dir=run_dir)
    for name in ("influxdb_direct", "latest", "map"):
        assert r[name]["requests"] > 0 and r[name]["errors"] == 0, (name, r[name])
        assert r[name]["p99_ms"] is not None
    # the direct statements are the ones the endpoint runs: public measurements only
    assert r["statements"] and all(any(f'"{m}"' in q for m in allowlist.PUBLIC)
                                   for q in r["statements"])
    assert "collector" not in " ".join(r["statements"])
    lines = bench.table(r)
    assert any("GET /api/v1/latest" in ln for ln in lines) and "p99" in lines[-1]
