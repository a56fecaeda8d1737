"""`quantrac firmware …`: what the firmware needs on this machine, and its build."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fwtools import fwbuild
from quantrac import mpdeps


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


DEFAULT_KEY = "secrets/firmware-signing.pem"  # under the run folder: the operations centre's


def key_path(key: Path | None) -> Path:
    """The signing key given, or the run folder's."""
    from quantrac_common.paths import run_dir

    return key if key is not None else run_dir() / DEFAULT_KEY


@firmware.command()
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Where to write the private key [default: <run>/{DEFAULT_KEY}].")
def keygen(key: Path | None) -> None:
    """Make the bundle signing key (RSA-3072, 0600) and its public half (`<key>.pub`, the
    `ota/key` every station holds). Refuses to replace a key stations already trust."""
    from fwtools import fwbundle

    path = key_path(key)
    try:
        pub = fwbundle.keygen(path)
    except fwbundle.BundleError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"signing key: {path} (keep it here; never on a station)")
    click.echo(f"public key:  {pub} ({pub.stat().st_size} B; `station flash` puts it in ota/key)")


@firmware.command()
@click.argument("version")
@click.option("--target", type=click.Choice(list(fwbuild.TARGETS)), default="esp32",
              show_default=True)
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The signing key [default: <run>/{DEFAULT_KEY}].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The bundle file [default: build/firmware/<target>-<version>.qfw].")
@click.option("--min-micropython", default=None, help="Lowest MicroPython it runs on.")
def bundle(version: str, target: str, key: Path | None, out: Path | None,
           min_micropython: str | None) -> None:
    """Build the firmware and make one signed, versioned update bundle of its modules."""
    from fwtools import fwbundle

    try:
        mpdeps.fetch(say=lambda msg: click.echo(msg, err=True))
        b = fwbuild.build(target)
        made = fwbundle.make(b.folder, version, key_path(key),
                             min_micropython or fwbundle.MIN_MICROPYTHON)
        path = fwbundle.write(made, out or fwbuild.BUILD / f"{target}-{version}.qfw")
    except (fwbundle.BundleError, fwbuild.BuildError, mpdeps.DepsError, OSError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"bundle {version}: {path}")
    click.echo(f"  {len(made.files)} files, {sum(map(len, made.files.values()))} B; bundle "
               f"{len(made.blob)} B in {-(-len(made.blob) // fwbundle.CHUNK_BYTES)} chunks of "
               f"{fwbundle.CHUNK_BYTES} B; slot limit {fwbundle.SLOT_BYTES} B")
    click.echo(f"  sha256 {made.sha256}; needs MicroPython >= {made.manifest['mpy']}")


@firmware.command()
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The signing key, whose .pub is read [default: <run>/{DEFAULT_KEY}].")
def verify(bundle_file: Path, key: Path | None) -> None:
    """Check a bundle as a station does: signature, every file's size and sha256."""
    from fwtools import fwbundle

    pub = fwbundle.public_path(key_path(key))
    try:
        made = fwbundle.verify(bundle_file.read_bytes(), pub.read_bytes())
    except OSError as e:
        raise click.ClickException(f"{pub}: {e.strerror}") from e
    except fwbundle.BundleError as e:
        raise click.ClickException(f"{bundle_file}: refused: {e}") from e
    click.echo(f"{bundle_file}: version {made.version}, {len(made.files)} files, signature good")


MOVED = {"rollout": "quantrac fleet publish BUNDLE, then quantrac fleet rollout VERSION",
         "halt": "quantrac fleet halt"}


def _moved(name: str) -> click.Command:
    @click.command(name, hidden=True, add_help_option=False,
                   context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def gone(args: tuple[str, ...]) -> None:
        raise click.UsageError(f"`quantrac firmware {name}` moved: {MOVED[name]} "
                               "(quantrac fleet --help)")

    return gone


for _name in MOVED:
    firmware.add_command(_moved(_name))
