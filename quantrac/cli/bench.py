"""`quantrac bench …`: benchmarks that print ratios measured in one run."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def bench() -> None:
    """Benchmarks that print ratios measured in one run."""


@bench.command()
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the figures as JSON.")
@click.option("--cycles", type=click.IntRange(1000, 1_000_000), default=10_000,
              show_default=True, help="Sample cycles of the heap run.")
@click.option("--drain-records", type=click.IntRange(16, 100_000), default=2880,
              show_default=True, help="Backlog records pre-filled for the drain run.")
def firmware(json_path: Path | None, cycles: int, drain_records: int) -> None:
    """Station heap (peak, growth) under -X heapsize, backlog bytes per record and days per
    MiB (each shipped profile and the fullest air station), backlog drain rate into a loopback
    broker; heap and drain on the fullest air station (quantrac/bench/fullest_air.json)."""
    from fwtools.fwbuild import BuildError
    from quantrac.bench import firmware as fwbench

    try:
        r = fwbench.run(cycles, drain_records, say=lambda m: click.echo(m, err=True))
    except (fwbench.BenchError, BuildError, OSError) as e:
        raise click.ClickException(str(e)) from e
    kib = 1024
    click.echo(f"firmware bench: {r['station']}, {r['params']} parameters, sample "
               f"{r['sample_s']} s, report {r['report_s']} s (unix port, 64-bit, .mpy build "
               f"run from its {r['rom_image_bytes']} B ROMFS image)")
    click.echo(f"  heap peak (live)   {r['heap_peak_bytes'] / kib:8.1f} KiB  over "
               f"{r['sample_cycles']} sample cycles under {r['heap_limit_bytes'] // kib} KiB, "
               "modules from ROMFS; "
               f"goal {r['heap_goal_bytes'] / kib:.0f} KiB: "
               f"{'met' if r['heap_goal_met'] else 'NOT met'}")
    click.echo(f"  heap peak, .mpy files {r['heap_peak_code_on_heap_bytes'] / kib:5.1f} KiB  "
               "the other form: the .mpy files imported from the filesystem onto the heap (no "
               f"ROMFS partition; {r['qstrs_code_on_heap']} names); goal "
               f"{r['heap_goal_bytes'] / kib:.0f} KiB: "
               f"{'met' if r['heap_goal_met_code_on_heap'] else 'NOT met'}")
    click.echo(f"  bench code         {r['bench_code_bytes'] / kib:8.1f} KiB  (fake wires and "
               "clock: left out of the figures above and below)")
    click.echo(f"  heap required      {r['heap_required_bytes'] / kib:8.1f} KiB  (smallest "
               "-X heapsize that runs, bench code and fragmentation included)")
    click.echo(f"  sound histogram    {r['histogram_bytes']:8d} B    (in the heap peak: "
               f"{r['histogram_bins']} uint16 counts, {r['histogram_resolution_db']} dB bins "
               f"from {r['histogram_floor_db']} dB, the sound meter's range)")
    click.echo(f"  heap growth        {r['heap_growth_bytes']:8d} B    steady state, end - start")
    click.echo(f"  interned names     {r['qstrs']:8d}      ({r['bench_qstrs']} of them the "
               f"bench's; {r['qstr_pool_bytes']} B of qstr pools; "
               f"{r['qstrs_before_next_pool']} more and the next pool doubles them)")
    click.echo(f"  backlog record     {r['backlog_bytes_per_record']:8d} B    "
               f"({r['backlog_bytes_per_record_effective']} B with segment headers)")
    click.echo(f"  backlog per MiB    {r['backlog_days_per_mib']:8.2f} days "
               f"({r['backlog_records_per_mib']} records; goal {r['backlog_goal_days']} days: "
               f"{'met' if r['backlog_goal_met'] else 'NOT met'} by every profile below)")
    for name, p in r["profiles"].items():
        click.echo(f"    {name:16s} {p['days_per_mib']:8.2f} days  {p['params']:2d} parameters, "
                   f"{p['record_bytes']} B a record every {p['report_s']} s")
    click.echo(f"  drain rate         {r['drain_records_per_s']:8.1f} records/s  "
               f"({r['drain_records']} records in {r['drain_messages']} messages)")
    click.echo(f"  loop errors        {r['loop_errors']:8d}")
    if json_path is not None:
        json_path.write_text(json.dumps(r, indent=1) + "\n")


# -- stack benches (quantrac/bench/ingest, latency, backlog, reliability) -------------------

JSON_OPT = click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="Also write the figures as JSON.")


def _stack_bench(run: object, table: object, json_path: Path | None, **kw: object) -> dict:
    """Run one stack bench on a private stack, print its table, write its JSON."""
    from collector.services import ServicesError
    from quantrac.bench import common

    try:
        r = run(say=lambda m: click.echo(m, err=True), **kw)  # type: ignore[operator]
    except (common.BenchError, ServicesError, OSError) as e:
        raise click.ClickException(str(e)) from e
    for line in table(r):  # type: ignore[operator]
        click.echo(line)
    common.write_json(json_path, r)
    return r


@bench.command()
@JSON_OPT
@click.option("--messages", type=click.IntRange(10, 10_000_000), default=20_000,
              show_default=True, help="Messages in the backlog each variant drains.")
@click.option("--naive-messages", type=click.IntRange(10, 10_000_000), default=2_000,
              show_default=True, help="Messages for the (slow) naive pipeline.")
@click.option("--records", type=click.IntRange(1, 256), default=1, show_default=True,
              help="5-minute records per message.")
@click.option("--stations", type=click.IntRange(1, 26), default=26, show_default=True)
@click.option("--nodered/--no-nodered", default=True, show_default=True,
              help="Also run Node-RED (e, e2), installed once into a cache folder.")
def ingest(json_path: Path | None, messages: int, naive_messages: int, records: int,
           stations: int, nodered: bool) -> None:
    """(a) counting subscriber, (b) raw batch writes, (c) naive pipeline, (d) the collector,
    (e) Node-RED per message, (e2) Node-RED with a join: msgs/s, readings/s, d/a, d/c, d/e2,
    and what each lost."""
    from quantrac.bench import ingest as mod

    _stack_bench(mod.run, mod.table, json_path, messages=messages,
                 naive_messages=naive_messages, records=records, n_stations=stations,
                 with_nodered=nodered)


@bench.command()
@JSON_OPT
@click.option("--stations", type=click.IntRange(1, 26), default=26, show_default=True)
@click.option("--days", type=click.FloatRange(0.01, 30), default=3.0, show_default=True,
              help="Length of the outage each station drains.")
@click.option("--batch", type=click.IntRange(1, 256), default=24, show_default=True,
              help="Records per message.")
def backlog(json_path: Path | None, stations: int, days: float, batch: int) -> None:
    """Every station back from an outage with 1-minute records, all draining at once: time to
    drain and readings lost."""
    from quantrac.bench import backlog as mod

    _stack_bench(mod.run, mod.table, json_path, n_stations=stations, days=days, batch=batch)


@bench.command()
@JSON_OPT
@click.option("--seconds", type=click.FloatRange(1, 3600), default=60.0, show_default=True,
              help="How long each load runs.")
@click.option("--stations", type=click.IntRange(2, 26), default=26, show_default=True)
def latency(json_path: Path | None, seconds: float, stations: int) -> None:
    """p50 and p99 from a station's publish to the point being queryable and to an alert
    being published, at nominal load and at 100x."""
    from quantrac.bench import latency as mod

    _stack_bench(mod.run, mod.table, json_path, seconds=seconds, n_stations=stations)


@bench.command()
@JSON_OPT
@click.option("--outage-s", type=click.FloatRange(1, 86400), default=300.0, show_default=True,
              help="How long InfluxDB stays down.")
@click.option("--stream-s", type=click.FloatRange(1, 3600), default=10.0, show_default=True,
              help="How long stations stream before and after each fault.")
@click.option("--firmware-kills", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="How many times the station firmware is SIGKILLed and started again.")
def reliability(json_path: Path | None, outage_s: float, stream_s: float,
                firmware_kills: int) -> None:
    """Broker restart, InfluxDB restart, collector SIGKILL, firmware SIGKILL during a backlog
    write, 3-day station outage: sent, stored, lost, duplicated."""
    from quantrac.bench import reliability as mod

    r = _stack_bench(mod.run, mod.table, json_path, outage_s=outage_s, stream_s=stream_s,
                     firmware_kills=firmware_kills)
    if r["lost"] or r["duplicated"]:
        raise click.ClickException(f"{r['lost']} lost, {r['duplicated']} duplicated")


@bench.command("public")
@JSON_OPT
@click.option("--seconds", type=click.FloatRange(1, 600), default=10.0, show_default=True,
              help="How long each load runs.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Connections the load generator (a second process) keeps open.")
def public_bench(json_path: Path | None, seconds: float, concurrency: int) -> None:
    """The public map and latest-values endpoint under concurrent load, beside the same
    InfluxDB statements asked directly: req/s and p99; latest must match the direct rate with
    p99 < 100 ms (exit 1 when not)."""
    from quantrac.bench import public as mod

    r = _stack_bench(mod.run, mod.table, json_path, seconds=seconds, concurrency=concurrency)
    if not r["met"]:
        raise SystemExit(1)


@bench.command()
@JSON_OPT
@click.option("--kills", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="Updates, each SIGKILLed once in its download or its switch.")
@click.option("--seed", type=int, default=19, show_default=True)
@click.option("--heap/--no-heap", default=True, show_default=True,
              help="Also measure what a download adds to the fullest air station's heap.")
def ota(json_path: Path | None, kills: int, seed: int, heap: bool) -> None:
    """Over-the-air updates killed at random moments: every boot on a valid version, every
    update completed, no record lost; flash use; the update's extra heap peak."""
    from quantrac.bench import ota as mod

    r = _stack_bench(mod.run, mod.table, json_path, kills=kills, seed=seed, heap=heap)
    if r["lost"] or r["boots_valid"] != r["boots_after_kill"]:
        raise click.ClickException(f"{r['lost']} records lost")
