"""`quantrac demo`: what `scripts/demo` runs."""

from __future__ import annotations

from pathlib import Path

import click

from quantrac import paths


@click.command()
@click.option("--stations", "stations_n", type=click.IntRange(1, None),
              help="Run the first N registry stations (default: the whole network).")
@click.option("--seconds", type=click.FloatRange(5, None),
              help="Stop after this long (default: run until Ctrl-C).")
@click.option("--sample-s", type=click.IntRange(1, 3600), default=2, show_default=True,
              help="Sensor sampling interval on the simulated stations.")
@click.option("--report-s", type=click.IntRange(2, 86400), default=10, show_default=True,
              help="Averaging/reporting period (the field default is 300).")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default .run/ or $QUANTRAC_RUN_DIR).")
def demo(stations_n: int | None, seconds: float | None, sample_s: int, report_s: int,
         run_dir: Path | None) -> None:
    """Run simulated stations through the real broker, collector and database.

    Services are left running afterwards so the data can be queried; stop them with
    `quantrac services down`.
    """
    from quantrac.demo import run

    if report_s < sample_s:
        raise click.BadParameter("must be at least --sample-s", param_hint="--report-s")
    rd = paths.run_dir(run_dir)
    result = run(stations_n, seconds, sample_s, report_s, rd, say=click.echo)
    total = sum(sum(p.values()) for p in result.stored.values())
    click.echo(f"\nInfluxDB holds {total} points from this run for {len(result.stored)} stations.")
    env = result.env
    where = "" if run_dir is None else f" --run-dir {rd}"
    click.echo(
        "Services are still running. Query the data (password in "
        f"{rd / 'services.env'}):\n"
        f"  curl -G '{env['QUANTRAC_INFLUX_URL']}/query' "
        f"--data-urlencode db={env['QUANTRAC_INFLUX_DB']} "
        f"--data-urlencode u={env['QUANTRAC_INFLUX_READ_USER']} --data-urlencode p=... "
        "--data-urlencode 'q=SELECT last(value) FROM reading GROUP BY station, param'\n"
        f"Stop them with: .venv/bin/quantrac services down{where}")
    if result.missing:
        for station, params in sorted(result.missing.items()):
            click.echo(f"no data stored from {station} for: {', '.join(params)}", err=True)
        raise SystemExit(1)
