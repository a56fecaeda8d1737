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
    MiB, backlog drain rate into a loopback broker; the nine-parameter air station."""
    from quantrac.bench import firmware as fwbench
    from quantrac.fwbuild import BuildError

    try:
        r = fwbench.run(cycles, drain_records, say=lambda m: click.echo(m, err=True))
    except (fwbench.BenchError, BuildError, OSError) as e:
        raise click.ClickException(str(e)) from e
    kib = 1024
    click.echo(f"firmware bench: {r['station']}, {r['params']} parameters, sample "
               f"{r['sample_s']} s, report {r['report_s']} s (unix port, 64-bit, .mpy build)")
    click.echo(f"  heap required      {r['heap_required_bytes'] / kib:8.1f} KiB  (smallest "
               f"-X heapsize that runs; goal {r['heap_goal_bytes'] / kib:.0f} KiB: "
               f"{'met' if r['heap_goal_met'] else 'NOT met'})")
    click.echo(f"  heap peak (live)   {r['heap_peak_bytes'] / kib:8.1f} KiB  over "
               f"{r['sample_cycles']} sample cycles under {r['heap_limit_bytes'] // kib} KiB")
    click.echo(f"  heap growth        {r['heap_growth_bytes']:8d} B    steady state, end - start")
    click.echo(f"  backlog record     {r['backlog_bytes_per_record']:8d} B    "
               f"({r['backlog_bytes_per_record_effective']} B with segment headers)")
    click.echo(f"  backlog per MiB    {r['backlog_days_per_mib']:8.2f} days "
               f"({r['backlog_records_per_mib']} records; goal 60 days)")
    click.echo(f"  drain rate         {r['drain_records_per_s']:8.1f} records/s  "
               f"({r['drain_records']} records in {r['drain_messages']} messages)")
    click.echo(f"  loop errors        {r['loop_errors']:8d}")
    if json_path is not None:
        json_path.write_text(json.dumps(r, indent=1) + "\n")
