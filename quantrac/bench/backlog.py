"""`quantrac bench backlog`: the whole network back from an outage, all draining at once.

26 stations × 3 days × 1-minute records (112,320 records) are published as the stations drain
their on-flash backlog: oldest first, `batch` records per message (the firmware's
`backlog.batch`), QoS 1, each station with its own boot id and seq, all stations at the same
time, while the collector runs with its default chain and spool. Timed from the first publish
until every reading is in InfluxDB; then every (station, param) is counted: lost must be 0.

The messages are published from CPython with the firmware's message shape (protocol v1), not
by 26 unix-port firmwares: the figure is the collector's and the database's drain time, and
`quantrac bench firmware` measures a station's own drain rate.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from quantrac.bench import common


def make_backlog(sts: list[str], t0: int, records: int, step_s: int, batch: int) -> list[dict]:
    out = []
    for st in sts:
        params, boot = common.params_of(st), uuid.uuid4().hex[:8]
        recs = [common.record(st, t0 + step_s * k, k, params=params) for k in range(records)]
        for i in range(0, records, batch):
            for r in recs[i:i + batch]:
                r["p"] = step_s
            out.append(common.message(st, boot, i // batch, recs[i:i + batch]))
    return out


def run(n_stations: int = 26, days: float = 3.0, step_s: int = 60, batch: int = 24,
        say: Callable[[str], None] = print, timeout: float = 3600.0) -> dict:
    from collector.config import Settings
    from collector.pipeline import Collector

    sts = common.stations(n_stations)
    records = int(days * 86400 // step_s)
    t0 = common.window_start(days + 1)
    msgs = make_backlog(sts, t0, records, step_s, batch)
    want = common.expected(msgs)
    readings = sum(want.values())
    say(f"backlog: {len(sts)} stations x {records} records = {len(sts) * records} records, "
        f"{readings} readings in {len(msgs)} messages")
    result: dict = {"machine": common.machine(), "stations": len(sts), "days": days,
                    "step_s": step_s, "batch": batch, "records": len(sts) * records,
                    "messages": len(msgs), "readings": readings}
    with common.private_stack() as (env, folder):
        c = Collector(Settings.from_env(env, folder / "collector", common.collector_options(
            f"bench-backlog-{uuid.uuid4().hex[:6]}")))
        c.start()
        try:
            start = time.monotonic()
            result["publish_seconds"] = common.publish_all(env, msgs, timeout)
            common.wait_for(lambda: c.stats["totals"]["readings_stored"] >= readings,
                            "the collector to store the backlog", timeout)
            result["drain_seconds"] = time.monotonic() - start
            result["rejected"] = c.stats["totals"]["rejected"]
        finally:
            c.stop()
        got = common.counts(env, t0, t0 + step_s * records)
    result.update(common.compare(want, got))
    result["records_per_s"] = result["records"] / result["drain_seconds"]
    result["readings_per_s"] = readings / result["drain_seconds"]
    return result


def table(r: dict) -> list[str]:
    m = r["machine"]
    return [f"bench backlog: {r['stations']} stations back from a {r['days']:g}-day outage, "
            f"{r['step_s']} s records, {r['batch']} per message; {m['nproc']} CPUs, {m['cpu']}, "
            f"{m['ram_gib']} GiB",
            f"  records      {r['records']:10d}   ({r['readings']} readings in "
            f"{r['messages']} messages)",
            f"  drain        {r['drain_seconds']:10.1f} s  first publish -> all stored "
            f"({r['records_per_s']:.0f} records/s, {r['readings_per_s']:.0f} readings/s)",
            f"  published    {r['publish_seconds']:10.1f} s  (all PUBACKs)",
            f"  stored       {r['stored']:10d}   lost {r['lost']}   duplicated "
            f"{r['duplicated']}   rejected {r['rejected']}"]
