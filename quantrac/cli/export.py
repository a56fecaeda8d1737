"""`quantrac export`: open-data CSV or JSON, one file per station and local day, for any date
range, read from InfluxDB with the read-only user (the same files the e-gov module writes each
day; format: collector/egov/README.md)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import click

from quantrac_common import paths

MAX_DAYS = 3660


def _day(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)",
                                 param_hint=flag) from None


@click.command()
@click.option("--station", "stations", multiple=True,
              help="Registry station id; repeat for several (default: every station).")
@click.option("--from", "first", required=True, help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", default=None, help="Last local day, inclusive (default: --from).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True,
              help="Language of the headers.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder; files go to <out>/<station>/<yyyy>/<station>_<day>_<lang>.<fmt>.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder holding services.env (default: QUANTRAC_RUN_DIR or .run/).")
@click.option("--registry", default="phu-quoc", show_default=True,
              help="Station registry (boards/registry/<name>.json).")
@click.option("--symbols", default=None, type=click.Path(dir_okay=False),
              help="Parameter symbol table (default: collector/egov/symbols.json).")
def export(stations: tuple[str, ...], first: str, last: str | None, fmt: str, lang: str,
           out: str, run_dir: str | None, registry: str, symbols: str | None) -> None:
    """Open-data CSV/JSON for any date range: every reading of each station and local day
    (records after its midnight up to the next), with device status and QC flag."""
    from zoneinfo import ZoneInfo

    import boards
    from collector.config import ConfigError, services_env
    from collector.egov import datafile, opendata
    from collector.review.marks import MarkError, Review
    from collector.review.marks import path as marks_path
    from quantrac_common.influxql import QueryError

    start, end = _day(first, "--from"), _day(last or first, "--to")
    if end < start:
        raise click.BadParameter(f"{last} is before --from {first}", param_hint="--to")
    if (end - start).days >= MAX_DAYS:
        raise click.BadParameter(f"{first} … {last} is more than {MAX_DAYS} days; split it",
                                 param_hint="--to")
    try:
        reg = boards.registry(registry)
        table = datafile.load_symbols(symbols)
        env = services_env(paths.run_dir(run_dir))
        review = Review(marks_path(paths.run_dir(run_dir)))
    except (boards.BoardsError, datafile.DataFileError, ConfigError, MarkError) as e:
        raise click.ClickException(str(e)) from None
    unknown = [s for s in stations if s not in reg.ids()]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} not in registry {registry!r} "
                                 f"(known: {', '.join(reg.ids())})", param_hint="--station")
    chosen = [reg.get(s) for s in stations] if stations else list(reg.stations)
    tz, folder = ZoneInfo(reg.timezone), Path(out)
    written, empty = 0, 0
    for day in (start + timedelta(days=i) for i in range((end - start).days + 1)):
        for st in chosen:
            try:
                files = opendata.write_day(env, st, day, folder, tz, table, (fmt,), (lang,),
                                           review)
            except QueryError as e:
                raise click.ClickException(str(e)) from None
            for f in files:
                click.echo(f)
            written += len(files)
            empty += not files
    click.echo(f"{written} files for {len(chosen)} stations, {(end - start).days + 1} days "
               f"({empty} station-days without readings)", err=True)
