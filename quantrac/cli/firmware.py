"""`quantrac firmware …`: what the firmware needs on this machine."""

from __future__ import annotations

import click

from quantrac import mpdeps


@click.group()
def firmware() -> None:
    """Firmware dependencies and the unix-port runner."""


@firmware.command()
@click.option("--quiet", is_flag=True, help="Say nothing when everything is already in place.")
def deps(quiet: bool) -> None:
    """Fetch the pinned MicroPython libraries into .deps/micropython (sha256-checked)."""
    try:
        fetched = mpdeps.fetch()
    except (mpdeps.DepsError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if fetched or not quiet:
        click.echo(f"firmware deps: {'fetched ' + ', '.join(fetched) if fetched else 'up to date'}")
