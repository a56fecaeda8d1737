"""`quantrac report daily|monthly`: the department's bulletin as Markdown and PDF, in vi and
en, read from InfluxDB with the read-only user (collector/report/README.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from quantrac_common import paths

COMMON = [
    click.option("--out", default=".", show_default=True,
                 type=click.Path(file_okay=False, path_type=Path),
                 help="Folder for the files (bulletin_<kind>_<label>_<lang>.md|.pdf, charts/)."),
    click.option("--station", "stations", multiple=True,
                 help="Registry station id; repeat for several (default: every station)."),
    click.option("--lang", "langs", multiple=True, type=click.Choice(["vi", "en"]),
                 help="Language; repeat for both (default: vi and en)."),
    click.option("--run-dir", type=click.Path(file_okay=False), default=None,
                 help="Run folder holding services.env and regulations.json "
                      "(default: QUANTRAC_RUN_DIR or .run/)."),
    click.option("--registry", default="phu-quoc", show_default=True,
                 help="Station registry (boards/registry/<name>.json)."),
]


def _common(f):
    for opt in reversed(COMMON):
        f = opt(f)
    return f


@click.group()
def report() -> None:
    """The department's bulletins: per station completeness, means against the limits,
    exceedances, VN_AQI with its health message, faults, alerts, review status."""


def _run(kind: str, value: str, out: Path, stations: tuple[str, ...], langs: tuple[str, ...],
         run_dir: str | None, registry: str) -> None:
    from zoneinfo import ZoneInfo

    import boards
    from collector.alerting import rules
    from collector.alerting.regulations import OVERRIDE_FILE
    from collector.config import ConfigError, services_env
    from collector.report import build, write
    from collector.review import marks
    from quantrac_common.influxql import QueryError

    try:
        reg = boards.registry(registry)
    except boards.BoardsError as e:
        raise click.ClickException(str(e)) from None
    tz = ZoneInfo(reg.timezone)
    if kind == "daily":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)",
                                     param_hint="--date") from None
        try:
            span = build.daily(day, tz)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--date") from None
    else:
        try:
            span = build.monthly(value, tz)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--month") from None
    unknown = [s for s in stations if s not in reg.ids()]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} not in registry {registry!r}",
                                 param_hint="--station")
    try:
        run = paths.run_dir(run_dir)
        env = services_env(run)
        rs = rules.load(None, run / OVERRIDE_FILE)
        review = marks.Review(marks.path(run))
    except (ConfigError, rules.RulesError, marks.MarkError) as e:
        raise click.ClickException(str(e)) from None
    chosen = [reg.get(s) for s in stations] if stations else list(reg.stations)
    try:
        doc = build.bulletin(env, reg, chosen, rs, span, review)
        files = write.write(doc, out, langs or ("vi", "en"))
    except (QueryError, write.ReportError) as e:
        raise click.ClickException(str(e)) from None
    for f in files:
        click.echo(f)
    if doc["silent"]:
        click.echo(f"no data: {', '.join(doc['silent'])}", err=True)


@report.command()
@click.option("--date", "day", required=True, help="Local day, YYYY-MM-DD.")
@_common
def daily(day: str, out: Path, stations: tuple[str, ...], langs: tuple[str, ...],
          run_dir: str | None, registry: str) -> None:
    """The bulletin of one local day."""
    _run("daily", day, out, stations, langs, run_dir, registry)


@report.command()
@click.option("--month", required=True, help="Month, YYYY-MM.")
@_common
def monthly(month: str, out: Path, stations: tuple[str, ...], langs: tuple[str, ...],
            run_dir: str | None, registry: str) -> None:
    """The bulletin of one month."""
    _run("monthly", month, out, stations, langs, run_dir, registry)
