"""`quantrac demo`: what `scripts/demo` runs."""

from __future__ import annotations

from pathlib import Path

import click

from quantrac_common import paths


@click.command()
@click.option("--stations", "stations_n", type=click.IntRange(1, None),
              help="Run the first N registry stations (default: the whole network).")
@click.option("--station", "station_ids", multiple=True, metavar="ID",
              help="Run this registry station (repeat for more) instead of the first N.")
@click.option("--registry", default="phu-quoc", show_default=True,
              help="The network under boards/registry to run, e.g. real-parts (stations of "
                   "real transmitters only).")
@click.option("--seconds", type=click.FloatRange(5, None),
              help="Stop after this long (default: run until Ctrl-C).")
@click.option("--sample-s", type=click.IntRange(1, 3600),
              help="Sensor sampling interval on the simulated stations "
                   "[default: 2, or the profile's 10 with --speed].")
@click.option("--report-s", type=click.IntRange(2, 86400),
              help="Averaging/reporting period [default: 10, or the profile's field "
                   "default 300 with --speed].")
@click.option("--speed", type=click.FloatRange(1, 10000), default=1, show_default=True,
              help="Run station time this many times faster (the fast clock): the demo "
                   "replays the last speed × seconds of station life (a day without "
                   "--seconds), ending now.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (default .run/ or $QUANTRAC_RUN_DIR).")
@click.option("--public", "public_listen", default="127.0.0.1:8021", show_default=True,
              help="HOST:PORT of the public page while the demo runs (a free port when that "
                   "one is taken); `off` for none.")
def demo(stations_n: int | None, station_ids: tuple[str, ...], registry: str,
         seconds: float | None, sample_s: int | None, report_s: int | None, speed: float,
         run_dir: Path | None, public_listen: str) -> None:
    """Run simulated stations through the real broker, collector and database.

    Services are left running afterwards so the data can be queried; stop them with
    `quantrac services down`.
    """
    import boards
    from quantrac.demo import run

    if station_ids and stations_n:
        raise click.BadParameter("give --stations N or --station ID, not both",
                                 param_hint="--station")
    try:
        reg = boards.registry(registry)
    except boards.BoardsError as e:
        raise click.BadParameter(str(e), param_hint="--registry") from None
    for sid in station_ids:
        try:
            reg.get(sid)
        except boards.BoardsError as e:
            raise click.BadParameter(str(e), param_hint="--station") from None
    if speed == 1:
        sample_s, report_s = sample_s or 2, report_s or 10
    if sample_s and report_s and report_s < sample_s:
        raise click.BadParameter("must be at least --sample-s", param_hint="--report-s")
    listen = None
    if public_listen != "off":
        from public.serve import parse_listen
        try:
            listen = parse_listen(public_listen)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--public") from None
    rd = paths.run_dir(run_dir)
    result = run(stations_n, seconds, sample_s, report_s, rd, say=click.echo, speed=speed,
                 station_ids=station_ids, registry=registry, public_listen=listen)
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
        f"Stop them with: .venv/bin/quantrac services down{where}\n"
        f"Serve the public page on: .venv/bin/quantrac public serve{where}")
    if result.missing:
        for station, params in sorted(result.missing.items()):
            click.echo(f"no data stored from {station} for: {', '.join(params)}", err=True)
        raise SystemExit(1)
