"""`quantrac data`: the environment department's review of the data before it counts
(Decision 1459 publishes only data that passed QA/QC): flag a station's parameter invalid over
a time range, approve a checked day, list the marks. Marks go to `<run_dir>/review.jsonl`
(collector/review/README.md); the running collector picks them up within a second."""

from __future__ import annotations

import getpass
import os
import time
from datetime import date, datetime

import click

from quantrac_common import paths

RUN_DIR = click.option("--run-dir", type=click.Path(file_okay=False), default=None,
                       help="Run folder (default: QUANTRAC_RUN_DIR or .run/).")
REGISTRY = click.option("--registry", default="phu-quoc", show_default=True,
                        help="Station registry (boards/registry/<name>.json).")
BY = click.option("--by", default=None,
                  help="Operator recorded with the mark (default: QUANTRAC_OPERATOR, else the "
                       "login name of the OS user).")


def login() -> str:
    """The OS account running the command, kept beside `by` (which anyone may type)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (a container)
        return ""


def operator(by: str | None) -> str:
    """Who makes the mark: --by, else QUANTRAC_OPERATOR, else the OS login."""
    if by is not None:
        return by
    return os.environ.get("QUANTRAC_OPERATOR") or login()


def _registry(registry: str):
    import boards

    try:
        return boards.registry(registry)
    except boards.BoardsError as e:
        raise click.ClickException(str(e)) from None


def _station(registry: str, station: str):
    reg = _registry(registry)
    if station not in reg.ids():
        raise click.BadParameter(f"{station!r} is not in registry {registry!r}",
                                 param_hint="STATION")
    return reg, reg.get(station)


@click.group()
def data() -> None:
    """Operator review: flag invalid data, approve checked days, list the marks."""


@data.command("flag")
@click.argument("station")
@click.argument("param")
@click.option("--from", "first", required=True,
              help="Start, local time YYYY-MM-DDTHH:MM (or with an offset); records after it.")
@click.option("--to", "last", required=True, help="End, included; same format.")
@click.option("--reason", required=True, help="Why the data are invalid (maintenance, fault).")
@BY
@RUN_DIR
@REGISTRY
def flag(station: str, param: str, first: str, last: str, reason: str, by: str | None,
         run_dir: str | None, registry: str) -> None:
    """Mark STATION's PARAM invalid from --from to --to: its records leave the indices,
    alerts and e-gov files, and what they touched is recomputed."""
    from zoneinfo import ZoneInfo

    from collector.review import marks

    reg, st = _station(registry, station)
    if param not in st.params():
        raise click.BadParameter(f"{station} does not measure {param!r} (it measures "
                                 f"{', '.join(sorted(st.params()))})", param_hint="PARAM")
    tz = ZoneInfo(reg.timezone)
    try:
        start = marks.local_time(first, tz, "--from")
        end = marks.local_time(last, tz, "--to")
        m = marks.flag(station, param, start, end, reason, operator(by), int(time.time()),
                       tz, login())
        kept = marks.append(marks.path(paths.run_dir(run_dir)), m)
    except marks.MarkError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"#{kept.id} {station} {param} invalid {_local(kept.start, tz)} … "
               f"{_local(kept.end, tz)} by {kept.by}: {kept.reason}")


@data.command("approve")
@click.argument("station")
@click.option("--date", "day", required=True, help="The local day checked, YYYY-MM-DD.")
@click.option("--note", default="", help="Optional note kept with the approval.")
@BY
@RUN_DIR
@REGISTRY
def approve(station: str, day: str, note: str, by: str | None, run_dir: str | None,
            registry: str) -> None:
    """Approve STATION's data of a checked local day: published as final, no longer
    preliminary."""
    from zoneinfo import ZoneInfo

    from collector.review import marks

    reg, _st = _station(registry, station)
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date (YYYY-MM-DD)",
                                 param_hint="--date") from None
    try:
        m = marks.approve(station, d, operator(by), int(time.time()), ZoneInfo(reg.timezone),
                          note, login())
        kept = marks.append(marks.path(paths.run_dir(run_dir)), m)
    except marks.MarkError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"#{kept.id} {station} {kept.day} approved by {kept.by}")


@data.command("flags")
@click.option("--station", default=None, help="Only this station's marks.")
@RUN_DIR
@REGISTRY
def flags(station: str | None, run_dir: str | None, registry: str) -> None:
    """List the review marks: id, when made, by whom, what, why."""
    from zoneinfo import ZoneInfo

    from collector.review import marks

    tz = ZoneInfo(_registry(registry).timezone)
    try:
        kept = marks.load(marks.path(paths.run_dir(run_dir)))
    except marks.MarkError as e:
        raise click.ClickException(str(e)) from None
    shown = [m for m in kept if station is None or m.station == station]
    if not shown:
        click.echo("no review marks", err=True)
    for m in shown:
        what = (f"{m.param} invalid {_local(m.start, tz)} … {_local(m.end, tz)}"
                if m.type == marks.FLAG else f"{m.day} approved")
        who = m.by if m.login in ("", m.by) else f"{m.by} (login {m.login})"
        click.echo(f"#{m.id}  {_local(m.at, tz)}  {who}  {m.station}  {what}"
                   + (f"  ({m.reason})" if m.reason else ""))


def _local(t: int, tz) -> str:
    return datetime.fromtimestamp(t, tz).isoformat(timespec="minutes")
