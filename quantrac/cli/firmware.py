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


DEFAULT_KEY = "secrets/firmware-signing.pem"  # under the run folder: the operations centre's


def _key(key: Path | None) -> Path:
    from quantrac_common.paths import run_dir

    return key if key is not None else run_dir() / DEFAULT_KEY


@firmware.command()
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Where to write the private key [default: <run>/{DEFAULT_KEY}].")
def keygen(key: Path | None) -> None:
    """Make the bundle signing key (RSA-3072, 0600) and its public half (`<key>.pub`, the
    `ota/key` every station holds). Refuses to replace a key stations already trust."""
    from quantrac import fwbundle

    path = _key(key)
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
    from quantrac import fwbundle

    try:
        mpdeps.fetch(say=lambda msg: click.echo(msg, err=True))
        b = fwbuild.build(target)
        made = fwbundle.make(b.folder, version, _key(key),
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
    from quantrac import fwbundle

    pub = fwbundle.public_path(_key(key))
    try:
        made = fwbundle.verify(bundle_file.read_bytes(), pub.read_bytes())
    except OSError as e:
        raise click.ClickException(f"{pub}: {e.strerror}") from e
    except fwbundle.BundleError as e:
        raise click.ClickException(f"{bundle_file}: refused: {e}") from e
    click.echo(f"{bundle_file}: version {made.version}, {len(made.files)} files, signature good")


def _broker_env() -> dict[str, str]:
    from collector import services
    from collector.services.state import ServicesError

    try:
        return services.load_env(None)
    except ServicesError as e:
        raise click.ClickException(str(e)) from e


def _fleet(stations: str | None) -> list[str]:
    import boards

    ids = boards.registry().ids()
    if not stations:
        return ids
    picked = [s.strip() for s in stations.split(",") if s.strip()]
    unknown = [s for s in picked if s not in ids]
    if unknown:
        raise click.ClickException(f"--stations: not in the registry: {', '.join(unknown)}")
    return picked


@firmware.command()
@click.argument("bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--canary", required=True, help="The station that takes the update first.")
@click.option("--stages", default="10%,50%,100%", show_default=True,
              help="Cumulative shares of the fleet after the canary.")
@click.option("--stations", help="Comma-separated ids [default: every registry station].")
@click.option("--timeout", "timeout_s", type=click.FloatRange(10, 86_400), default=900.0,
              show_default=True, help="Seconds a stage's stations have to report healthy.")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The signing key, whose .pub checks the bundle [default: <run>/{DEFAULT_KEY}].")
def rollout(bundle_file: Path, canary: str, stages: str, stations: str | None,
            timeout_s: float, key: Path | None) -> None:
    """Roll a signed bundle out: the canary, then each stage once the one before is healthy;
    halts at the first refusal, rollback or timeout (exit 1)."""
    from quantrac import fwbundle, fwrollout

    try:
        made = fwbundle.verify(bundle_file.read_bytes(),
                               fwbundle.public_path(_key(key)).read_bytes())
        result = fwrollout.rollout(_broker_env(), made, _fleet(stations), canary,
                                   fwrollout.parse_stages(stages), timeout_s, say=click.echo)
    except (fwbundle.BundleError, fwrollout.RolloutError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if result.halted:
        raise SystemExit(1)


@firmware.command()
@click.option("--stations", help="Comma-separated ids [default: every registry station].")
@click.option("--chunks", type=click.IntRange(0, 1000), default=200, show_default=True,
              help="Chunk topics to clear per station (a bundle's count, or more).")
def halt(stations: str | None, chunks: int) -> None:
    """Stop a rollout by hand: each station's wanted version becomes the one it reports
    running (none when unknown) and the chunks are cleared, so no station, online or not,
    applies what was staged."""
    from quantrac import fwrollout
    from quantrac.fwpublish import Operator, PublishError

    env = _broker_env()
    ids = _fleet(stations)
    try:
        watch = fwrollout.Watch(env)
        try:
            keep = {st: watch.fw[st] for st in ids if st in watch.fw}
        finally:
            watch.close()
        with Operator(env) as op:
            fwrollout.halt(op, ids, keep, chunks)
    except (PublishError, RuntimeError, OSError) as e:
        raise click.ClickException(str(e)) from e
    for st in ids:
        click.echo(f"{st}: wanted {keep.get(st, 'nothing')}")
