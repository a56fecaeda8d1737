"""`quantrac bench public`: requests per second and p99 latency of the public page's map (`/`)
and latest-values endpoint (`/api/v1/latest`) under concurrent load from a second process,
beside the same InfluxDB statements asked of the database directly by the same load
generator. The latest-values endpoint must serve at least the direct rate (its cache: a
visitor spike must not become database load) with p99 under 100 ms.

Without a given stack it starts a private one and writes 14 hours of every station's records
through the real collector first (hourly means, VN_AQI with its NowCast)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

from quantrac.bench import common

HOURS = 14
P99_LIMIT_MS = 100.0


def fill(env: dict[str, str], folder: Path, say: Callable[[str], None]) -> None:
    """Every station's last HOURS of 5-minute records, through the collector."""
    end = int(time.time()) // 300 * 300
    start = end - HOURS * 3600
    messages = []
    for st in common.stations():
        boot, recs = uuid.uuid4().hex[:8], []
        for k, t in enumerate(range(start + 300, end + 1, 300)):
            recs.append(common.record(st, t, k))
        messages += [common.message(st, boot, i, recs[i * 12:(i + 1) * 12])
                     for i in range((len(recs) + 11) // 12)]
    c = common.start_collector(env, folder / "collector")
    try:
        say(f"bench public: writing {len(messages)} messages ({HOURS} h of every station)")
        common.publish_all(env, messages)

        def ready() -> bool:
            from quantrac_common import influxql
            rows = influxql.rows(influxql.query(env, "SELECT count(\"aqi\") FROM \"derived\"."
                                                "\"aqi\" WHERE time > now() - 2h GROUP BY "
                                                "\"station\""))
            return len(rows) >= sum(1 for s in common.stations() if s.startswith("pq-air"))
        common.wait_for(ready, "hourly VN_AQI of every air station", timeout=300)
    finally:
        c.stop()


def load(urls: list[str], seconds: float, concurrency: int) -> dict:
    """The load generator in a second process."""
    cmd = [sys.executable, "-m", "quantrac.bench.public_load", str(seconds), str(concurrency),
           *urls]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if done.returncode != 0:
        raise common.BenchError(f"load generator failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def measure(env: dict[str, str], run_dir: Path | None, seconds: float, concurrency: int,
            say: Callable[[str], None]) -> dict:
    from public.serve import Background
    from public.store import Store

    store = Store(env, run_dir)
    statements = store.latest_queries()
    base = env["QUANTRAC_INFLUX_URL"].rstrip("/")
    direct = [f"{base}/query?" + urllib.parse.urlencode({
        "db": env["QUANTRAC_INFLUX_DB"], "q": q, "epoch": "s",
        "u": env["QUANTRAC_INFLUX_READ_USER"], "p": env["QUANTRAC_INFLUX_READ_PASSWORD"]})
        for q in statements]
    srv = Background(env, run_dir).start()
    try:
        out: dict = {"machine": common.machine(), "seconds": seconds,
                     "concurrency": concurrency, "statements": statements}
        for name, urls in (("influxdb_direct", direct), ("latest", [srv.url + "/api/v1/latest"]),
                           ("map", [srv.url + "/"])):
            say(f"bench public: {name} for {seconds:g} s, {concurrency} connections")
            out[name] = load(urls, seconds, concurrency)
    finally:
        srv.stop()
    lat, db = out["latest"], out["influxdb_direct"]
    out["latest_vs_direct"] = round(lat["rps"] / db["rps"], 2) if db["rps"] else None
    out["met"] = bool(lat["rps"] >= db["rps"] and lat["p99_ms"] is not None
                      and lat["p99_ms"] < P99_LIMIT_MS and not lat["errors"])
    return out


def run(say: Callable[[str], None] = print, seconds: float = 10.0, concurrency: int = 8,
        env: dict[str, str] | None = None, run_dir: Path | None = None) -> dict:
    if env is not None:
        return measure(env, run_dir, seconds, concurrency, say)
    with common.private_stack() as (penv, folder):
        fill(penv, folder, say)
        return measure(penv, folder / "run", seconds, concurrency, say)


def table(r: dict) -> list[str]:
    lines = [f"bench public ({r['concurrency']} connections, {r['seconds']:g} s each, "
             f"{r['machine']['nproc']} cores)",
             f"  {'target':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"]
    for name, label in (("influxdb_direct", f"InfluxDB direct ({len(r['statements'])} "
                                            "statements)"),
                        ("latest", "GET /api/v1/latest"), ("map", "GET / (map page)")):
        x = r[name]
        lines.append(f"  {label:28} {x['rps']:9.1f} {x['p50_ms'] or 0:8.2f} "
                     f"{x['p99_ms'] or 0:8.2f} {x['errors']:7d}")
    lines.append(f"  latest / direct: {r['latest_vs_direct']}x; p99 limit {P99_LIMIT_MS:g} ms: "
                 + ("met" if r["met"] else "NOT MET"))
    return lines
