"""`quantrac fleet …`: the stations' firmware from the operations room: what each runs, a build
published, a staged rollout, a halt and a rollback (docs/operations.md)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from quantrac.cli.firmware import DEFAULT_KEY, key_path

STATIONS_HELP = "Comma-separated ids [default: every registry station]."
KEY_HELP = f"The signing key, whose .pub checks the bundle [default: <run>/{DEFAULT_KEY}]."


@click.group()
def fleet() -> None:
    """Fleet firmware: status, publish, rollout, halt, rollback."""


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
    if stations is None:
        return ids
    picked = [s.strip() for s in stations.split(",") if s.strip()]
    if not picked:
        raise click.ClickException("--stations: no station named")
    unknown = [s for s in picked if s not in ids]
    if unknown:
        raise click.ClickException(f"--stations: not in the registry: {', '.join(unknown)}")
    return picked


def _store():
    from quantrac.fleetstore import FleetStore
    from quantrac_common.paths import run_dir

    return FleetStore(run_dir())


def _public(key: Path | None) -> bytes:
    from fwtools import fwbundle

    pub = fwbundle.public_path(key_path(key))
    try:
        return pub.read_bytes()
    except OSError as e:
        raise click.ClickException(f"{pub}: {e.strerror} (the signing key's public half; "
                                   "`quantrac firmware keygen`)") from e


def _version(version: str) -> str:
    from fwtools import fwbundle

    try:
        fwbundle.version_tuple(version)
    except fwbundle.BundleError as e:
        raise click.ClickException(str(e)) from e
    return version


def _under_way(env: dict[str, str], ids: list[str]) -> list[str]:
    """Stations asked for a version they do not run yet: an update (or a halted one's
    stragglers) in progress, whose chunks must not be replaced under it."""
    from quantrac.fleetstatus import retained

    statuses, wanted = retained(env)
    out = []
    for st in ids:
        want = wanted.get(st, {}).get("ver")
        if want and want != statuses.get(st, {}).get("fw"):
            out.append(f"{st} (wanted {want}, runs {statuses.get(st, {}).get('fw', '?')})")
    return out


# ---- status -----------------------------------------------------------------------------------

COLUMNS = (("station", "station"), ("online", "online"), ("version", "version"),
           ("slot", "slot"), ("wanted", "wanted"), ("last update", "_update"),
           ("when", "_update_at"), ("boot reason", "boot"))


def _when(t: int | None, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M") if t else ""


def _cells(row, tz: ZoneInfo) -> list[str]:
    update = ""
    if row.update:
        update = f"{row.update} {row.update_version or ''}".strip()
        if row.why:
            update += f": {row.why}"
    online = {True: "yes", False: "no", None: "?"}[row.online]
    values = {"_update": update, "_update_at": _when(row.update_at, tz), "online": online}
    return [values[k] if k in values else (getattr(row, k) or "-") for _, k in COLUMNS]


@fleet.command()
@click.option("--stations", help=STATIONS_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per station, as a list.")
def status(stations: str | None, as_json: bool) -> None:
    """Every station's running version, slot (a, b or none, from its last birth; trial or good
    for older firmware), wanted version, last update
    result and boot reason: the broker's retained status and wanted version, the `ota` and
    `birth` events the collector stored in `device`."""
    import boards
    from quantrac import fleetstatus
    from quantrac_common.influxql import QueryError

    ids = _fleet(stations)
    env = _broker_env()
    try:
        statuses, wanted = fleetstatus.retained(env)
    except RuntimeError as e:
        raise click.ClickException(str(e)) from e
    try:
        ota, births = fleetstatus.stored(env)
    except QueryError as e:  # the broker's half still answers: say what is missing
        click.echo(f"InfluxDB: {e}; last update and boot reason unknown", err=True)
        ota, births = {}, {}
    rows = fleetstatus.fleet(ids, statuses, wanted, ota, births)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=1))
        return
    tz = ZoneInfo(boards.registry().timezone)
    table = [[h for h, _ in COLUMNS], *(_cells(r, tz) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    versions = Counter(r.version for r in rows if r.version)
    click.echo("versions: " + (", ".join(f"{v} x{n}" for v, n in versions.most_common())
                               or "none reported"))


# ---- publish ----------------------------------------------------------------------------------

@fleet.command()
@click.argument("bundle", type=click.Path(exists=True, path_type=Path))
@click.option("--version", "version", help="With a build folder: the version to sign it as.")
@click.option("--min-micropython", default=None, help="With a build folder: lowest MicroPython.")
@click.option("--stations", help=STATIONS_HELP)
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path),
              help=f"The signing key [default: <run>/{DEFAULT_KEY}].")
def publish(bundle: Path, version: str | None, min_micropython: str | None,
            stations: str | None, key: Path | None) -> None:
    """Stage a build: a signed bundle (`quantrac firmware bundle`), or a firmware build folder
    signed here with --version. Its signature is checked, it is kept in the run folder and its
    chunks go on the broker; no station is told to take it (`fleet rollout VERSION` does)."""
    from fwtools import fwbundle
    from fwtools.fwpublish import Operator, PublishError, stage_chunks
    from quantrac.fleetstore import StoreError

    ids = _fleet(stations)
    pub = _public(key)
    try:
        if bundle.is_dir():
            if version is None:
                raise click.ClickException(f"{bundle} is a build folder: give --version to "
                                           "sign it as")
            made = fwbundle.make(bundle, _version(version), key_path(key),
                                 min_micropython or fwbundle.MIN_MICROPYTHON)
        else:
            if version is not None or min_micropython is not None:
                raise click.ClickException("--version and --min-micropython are for a build "
                                           "folder; a bundle carries its own")
            made = fwbundle.verify(bundle.read_bytes(), pub)
        fwbundle.verify(made.blob, pub)  # signed with the key the stations hold
    except fwbundle.BundleError as e:
        raise click.ClickException(f"{bundle}: refused: {e}") from e
    except OSError as e:
        raise click.ClickException(f"{bundle}: {e.strerror}") from e
    env = _broker_env()
    try:
        busy = _under_way(env, ids)
        if busy:
            raise click.ClickException(
                "an update is under way at " + ", ".join(busy) + ": its chunks are not "
                "replaced; wait for the rollout or `quantrac fleet halt` first")
        store = _store()
        new = store.add(made)
        with Operator(env) as op:
            stage_chunks(op, ids, made)
    except (StoreError, PublishError, RuntimeError) as e:
        raise click.ClickException(str(e)) from e
    n = len(fwbundle.chunks(made))
    click.echo(f"published {made.version}{'' if new else ' (already published: staged again)'}"
               f": {len(made.blob)} B, {n} chunks on {len(ids)} stations, sha256 "
               f"{made.sha256[:16]}…; no station takes it until `quantrac fleet rollout "
               f"{made.version}`")


# ---- rollout, halt, rollback ------------------------------------------------------------------

@fleet.command()
@click.argument("version")
@click.option("--canary", required=True, help="The station that takes the update first.")
@click.option("--stages", default="10%,50%,100%", show_default=True,
              help="Cumulative shares of the fleet after the canary, growing, ending at 100%.")
@click.option("--stations", help=STATIONS_HELP)
@click.option("--timeout", "timeout_s", type=click.FloatRange(10, 86_400), default=900.0,
              show_default=True, help="Seconds a stage's stations have to report healthy.")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), help=KEY_HELP)
def rollout(version: str, canary: str, stages: str, stations: str | None, timeout_s: float,
            key: Path | None) -> None:
    """Roll a published version out: the canary, then each stage once every station of the
    one before reported it healthy; halts at the first refusal, rollback or timeout (exit 1),
    every staged station pointed back at what it ran."""
    import boards
    from fwtools import fwrollout
    from fwtools.fwpublish import PublishError
    from quantrac.fleetstore import StoreError

    _version(version)
    try:
        shares = fwrollout.parse_stages(stages)
    except fwrollout.RolloutError as e:
        raise click.ClickException(str(e)) from e
    if canary not in boards.registry().ids():
        raise click.ClickException(f"--canary {canary!r}: not in the registry")
    ids = _fleet(stations)
    try:
        fwrollout.plan(ids, canary, shares)
        store = _store()
        made = store.bundle(version, _public(key))
        env = _broker_env()
        result = fwrollout.rollout(env, made, ids, canary, shares, timeout_s, say=click.echo)
        if not result.halted:
            before = Counter(v for v in result.before.values() if v != version)
            store.mark_good(version, before.most_common(1)[0][0] if before else None)
    except (fwrollout.RolloutError, StoreError, PublishError, RuntimeError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if result.halted:
        raise SystemExit(1)


@fleet.command()
@click.option("--stations", help=STATIONS_HELP)
@click.option("--chunks", type=click.IntRange(0, 1000), default=200, show_default=True,
              help="Chunk topics to clear per station (a bundle's count, or more).")
def halt(stations: str | None, chunks: int) -> None:
    """Stop a rollout by hand: each station's wanted version becomes the one it reports
    running (none when unknown) and the chunks are cleared, so no station, online or not,
    applies what was staged."""
    from fwtools import fwrollout
    from fwtools.fwpublish import Operator, PublishError

    ids = _fleet(stations)
    env = _broker_env()
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


@fleet.command()
@click.option("--to", "to", help="The version to go back to [default: the good version before "
                                 "the fleet's current one].")
@click.option("--stations", help=STATIONS_HELP)
@click.option("--timeout", "timeout_s", type=click.FloatRange(10, 86_400), default=900.0,
              show_default=True, help="Seconds the stations online have to report it healthy.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the stations online to report the version healthy.")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), help=KEY_HELP)
def rollback(to: str | None, stations: str | None, timeout_s: float, wait: bool,
             key: Path | None) -> None:
    """Take the fleet back to the previous good version: every station's wanted version
    becomes it, forced, so a station running a higher version installs it (on trial, as any
    update). Exit 1 when a station online refuses it, fails its trial or stays silent."""
    from fwtools import fwrollout
    from fwtools.fwpublish import PublishError
    from quantrac.fleetstore import StoreError

    ids = _fleet(stations)
    store = _store()
    try:
        if to is None:
            current, to = store.previous_good()
            click.echo(f"rollback: {current} -> {to}")
        made = store.bundle(_version(to), _public(key))
        env = _broker_env()
        result = fwrollout.rollback(env, made, ids, timeout_s, wait, say=click.echo)
        store.rolled_back(to)
    except (StoreError, PublishError, RuntimeError, OSError) as e:
        raise click.ClickException(str(e)) from e
    if result.halted:
        click.echo(f"rollback to {to}: {result.why}", err=True)
        raise SystemExit(1)
    click.echo(f"rollback to {to}: wanted on {len(ids)} stations, "
               f"{len(result.healthy)} run it" + ("" if wait else " (not waited for)"))
