"""`quantrac backup DIR` and `quantrac restore DIR`: the run folder's database and state
(collector/backup/README.md)."""

from __future__ import annotations

from pathlib import Path

import click

from quantrac.cli.collector_status import size_text
from quantrac.cli.services import run_dir_option

config_option = click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None, help="The collector's TOML config, when it moves data_dir or the e-gov and "
                       "camera folders (the same file `collector run` is given).")


@click.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@run_dir_option
@config_option
def backup(dest: Path, run_dir: Path | None, config_file: Path | None) -> None:
    """Back the run folder up into DEST, a new folder (mode 0700).

    InfluxDB's own portable backup of the database, and the run folder's state: secrets,
    certificates, the broker's queued messages, the collector's spool, outboxes, alert state
    and dead letters, each file with its mode and sha256 in DEST/manifest.json. The services
    keep running; stop the collector first for an exact copy of its alert state.
    """
    from collector import backup as bk
    from collector.services import ServicesError

    try:
        doc = bk.backup(dest, run_dir, config_file)
    except (bk.BackupError, ServicesError, OSError) as e:
        raise click.ClickException(str(e)) from e
    state = [k for k in doc["files"] if not k.startswith("influxdb/")]
    db = sum(e["size"] for k, e in doc["files"].items() if k.startswith("influxdb/"))
    click.echo(f"backup:    {dest} (manifest.json lists {len(doc['files'])} files)")
    click.echo(f"database:  {doc['database']['name']}, {len(doc['database']['measurements'])} "
               f"measurements, policies {', '.join(doc['database']['retention_policies'])} "
               f"({size_text(db)})")
    click.echo(f"state:     {len(state)} files from {', '.join(doc['areas'])}")
    click.echo(f"broker:    {doc['broker']}")
    if doc["collector_running"]:
        click.echo("collector: running during the backup: what arrived meanwhile may be in the "
                   "database copy but not in its state (alerts opened in those seconds); stop "
                   "it for an exact copy")


@click.command()
@click.argument("src", type=click.Path(file_okay=False, exists=True, path_type=Path))
@run_dir_option
@config_option
@click.option("--force", is_flag=True,
              help="Replace the run folder's database and state when it holds some already.")
def restore(src: Path, run_dir: Path | None, config_file: Path | None, force: bool) -> None:
    """Restore the backup SRC into the run folder (a fresh one unless --force).

    Checks every file against SRC/manifest.json first and stops at the first mismatch
    without touching the run folder. The services are started for the database restore and
    left as they were found.
    """
    from collector import backup as bk
    from collector.services import ServicesError

    try:
        done = bk.restore(src, run_dir, config_file, force)
    except (bk.BackupError, ServicesError, OSError) as e:
        raise click.ClickException(str(e)) from e
    made = done["backup"]
    click.echo(f"restored:  {src} (made {made.get('created', '?')} from "
               f"{made.get('run_dir', '?')} on {made.get('host', '?')}) into {done['run_dir']}")
    click.echo(f"database:  {done['database']}, {done['measurements']} measurements")
    click.echo(f"state:     {done['files']} files, modes as they were")
    for w in done["warnings"]:
        click.echo(f"warning:   {w}")
    click.echo("services:  " + ("running, as before" if done["running"] else
                                "stopped, as before: `quantrac services up` starts them"))
