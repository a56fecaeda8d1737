"""`quantrac firmware …`: what the firmware needs on this machine, and its build."""

from __future__ import annotations

import json
from pathlib import Path

import click

from quantrac import fwbuild, mpdeps


@click.group()
def firmware() -> None:
    """Firmware dependencies, the .mpy build and the unix-port runner."""


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


@firmware.command()
@click.option("--target", type=click.Choice([*fwbuild.TARGETS, "all"]), default="all",
              show_default=True, help="esp32: -march=xtensawin; unix: bytecode the unix port runs.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=fwbuild.BUILD,
              show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the sizes as JSON.")
def build(target: str, out: Path, json_path: Path | None) -> None:
    """Compile firmware/manifest.py to .mpy with mpy-cross and report the sizes."""
    targets = list(fwbuild.TARGETS) if target == "all" else [target]
    report = {}
    try:
        mpdeps.fetch(say=lambda msg: click.echo(msg, err=True))
        for t in targets:
            b = fwbuild.build(t, out)
            click.echo(f"{t}: {b.folder}")
            for rel, size in sorted(b.files.items()):
                click.echo(f"  {size:7d}  {rel}")
            click.echo(f"  {b.total:7d}  total ({len(b.files)} files)")
            rom = b.romfs.stat().st_size if b.romfs else 0
            click.echo(f"  {rom:7d}  {b.romfs} (ROMFS image: `mpremote romfs deploy` writes it)")
            report[t] = {"folder": str(b.folder), "files": b.files, "total_bytes": b.total,
                         "romfs": str(b.romfs), "romfs_bytes": rom}
    except (fwbuild.BuildError, mpdeps.DepsError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=1) + "\n")
