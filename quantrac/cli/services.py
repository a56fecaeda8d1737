"""`quantrac services up|down|status`: the project's own Mosquitto, InfluxDB and v2-write proxy."""

from __future__ import annotations

from pathlib import Path

import click

from quantrac_common import paths

RUN_DIR_HELP = "Run folder (default: $QUANTRAC_RUN_DIR or .run/ in the checkout)."


def _run_dir(value: Path | None) -> Path:
    return paths.run_dir(value)


run_dir_option = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
                              default=None, help=RUN_DIR_HELP)


@click.group()
def services() -> None:
    """Start, stop and show the project's own Mosquitto and InfluxDB."""


@services.command()
@run_dir_option
def up(run_dir: Path | None) -> None:
    """Start whatever is not running (idempotent) and write services.env."""
    from collector import services as svc

    where = _run_dir(run_dir)
    try:
        env = svc.up(where)
    except (svc.ServicesError, OSError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"services.env: {where / 'services.env'}")
    click.echo(f"mqtt:         mqtt://{env['QUANTRAC_MQTT_HOST']}:{env['QUANTRAC_MQTT_PORT']}")
    click.echo(f"influxdb:     {env['QUANTRAC_INFLUX_URL']} (database "
               f"{env['QUANTRAC_INFLUX_DB']})")
    if env["QUANTRAC_INFLUX_WRITE_URL"] != env["QUANTRAC_INFLUX_URL"]:
        click.echo(f"v2 write:     {env['QUANTRAC_INFLUX_WRITE_URL']} (proxy to the 1.x server)")
    click.echo(f"stations:     {env['QUANTRAC_STATION_SECRETS']}")
    _rule_warnings(where)


def _rule_warnings(where: Path) -> None:
    """Stations on a regulation past its transition end, in every registry with accounts."""
    import boards
    from collector import services as svc
    from quantrac.cli import rules
    from quantrac.field import registry_file

    stations: dict[str, boards.Station] = {}
    for loc in svc.registries(where):
        try:
            stations.update((s.id, s) for s in registry_file.load(loc).stations)
        except (registry_file.RegistryError, boards.BoardsError):
            continue  # up() already refused a registry it cannot read
    rules.echo_warnings(rules.transition_warnings(list(stations.values()), where))


@services.command()
@run_dir_option
def down(run_dir: Path | None) -> None:
    """Stop the services this run folder started (nothing else)."""
    from collector import services as svc

    try:
        stopped = svc.down(_run_dir(run_dir))
    except (svc.ServicesError, OSError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services.command()
@run_dir_option
def status(run_dir: Path | None) -> None:
    """Show each service; exit status 1 when any is down."""
    from collector import services as svc

    try:
        rows = svc.status(_run_dir(run_dir))
    except (svc.ServicesError, OSError) as e:
        raise click.ClickException(str(e)) from e
    logs = svc.log_paths(_run_dir(run_dir))
    click.echo(f"{'service':<10} {'state':<8} {'pid':>8} {'port':>6}  log")
    for row in rows:
        state = "running" if row["running"] else "down"
        click.echo(f"{row['name']:<10} {state:<8} {row['pid'] or '-':>8} "
                   f"{row['port'] or '-':>6}  {logs.get(row['name'], '')}")
    if not all(row["running"] for row in rows):
        click.get_current_context().exit(1)
