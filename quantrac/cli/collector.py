"""`quantrac collector …`: run the collector on the run folder's services; list, replay and
discard dead letters."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from quantrac_common import paths

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _run_dir(value: str | None) -> Path:
    return paths.run_dir(value)


@click.group()
def collector() -> None:
    """Run and inspect the collector (broker -> InfluxDB)."""


@collector.command()
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder holding services.env (default: QUANTRAC_RUN_DIR or .run/).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML options file (layout: collector/sample.toml).")
@click.option("--log-level", type=click.Choice(LEVELS, case_sensitive=False), default="INFO",
              show_default=True)
@click.option("--workers", default="1", show_default=True,
              help="Worker processes, each owning a slice of the stations; auto: one per core.")
def run(run_dir: str | None, config_file: str | None, log_level: str, workers: str) -> None:
    """Collect until SIGINT/SIGTERM: MQTT -> validate, units, dedupe, QC -> spool -> InfluxDB;
    rejects to dead letters."""
    from collector import config
    from collector.dead_letter_store import DeadLettersLocked
    from collector.review.marks import MarkError
    from collector.spool import SpoolError
    from collector.workers.slicing import count_of, usable_count

    folder = _run_dir(run_dir)
    try:
        count = count_of(workers)
        settings = config.load(folder, config_file)
    except (config.ConfigError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    handlers = _logging(log_level.upper(), folder / "collector" / "collector.log")
    try:
        count = usable_count(settings.collector.registry, count)
        if count == 1:
            from collector.workers.run import run_collector

            run_collector(settings)
        else:
            from collector.workers.supervisor import Supervisor

            code = Supervisor(settings, folder, config_file, count, log_level.upper()).run()
            if code:
                raise SystemExit(code)
    except (SpoolError, DeadLettersLocked, MarkError) as e:
        raise click.ClickException(str(e)) from e
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
            handler.close()


def _dead_letter_path(folder: Path, config_file: str | None) -> Path:
    from collector import config

    opts = config.CollectorOptions()
    if config_file:
        try:
            opts = config.build(config.CollectorOptions,
                                config.load_toml(Path(config_file)).get("collector", {}),
                                "collector")
        except config.ConfigError as e:
            raise click.ClickException(str(e)) from e
    return config.dead_letters_path(folder, opts)


def _dead_letter_files(folder: Path, config_file: str | None) -> list[tuple[str, Path]]:
    """(label, file) of every dead-letter file: the single collector's, and each worker's of
    `run --workers N` (`w<i>`: collector/workers/slicing.py names them), those that exist."""
    from collector.workers.slicing import worker_dir

    main = _dead_letter_path(folder, config_file)
    files = [("", main)] if main.exists() else []
    for i in range(1024):  # workers are numbered from 0 without gaps
        explicit = main.with_name(f"{main.stem}-w{i}{main.suffix}")
        own = worker_dir(main.parent, i) / main.name
        found = [p for p in (explicit, own) if p.exists()]
        if not found:
            if not worker_dir(main.parent, i).exists() and not explicit.exists():
                break
            continue
        files.append((f"w{i}", found[0]))
    return files or [("", main)]


def _pick(files: list[tuple[str, Path]], ids: tuple[str, ...], pending: bool,
          classes: tuple[str, ...]) -> list[tuple[str, Path, list[dict]]]:
    """Each file's entries that `ids` (`N`; `w<i>#N` a worker's, `#N` the single collector's,
    as listed) and `classes` name; a bare `N` that several files hold is refused as
    ambiguous."""
    from collector.dead_letters import read

    wanted: dict[str | None, set[int]] = {}  # None: a bare N, any file's
    for text in ids:
        label, sep, n = text.rpartition("#")
        if not n.isdigit() or (label and label not in {lb for lb, _ in files}):
            raise click.BadParameter(f"{text!r} is not an entry id (N, #N, or w<i>#N of a "
                                     "worker)", param_hint="--id")
        wanted.setdefault(label if sep else None, set()).add(int(n))
    out = []
    for label, path in files:
        entries = [e for e in read(path, pending_only=pending)
                   if (not ids or e["id"] in wanted.get(label, set()) | wanted.get(None, set()))
                   and (not classes or e.get("class") in classes)]
        if entries:
            out.append((label, path, entries))
    for n in sorted(wanted.get(None, set())):
        # the single collector's file (label "") counts too: it outlives a switch to workers
        holders = [f"{lb}#{n}" for lb, _, es in out if any(e["id"] == n for e in es)]
        if len(holders) > 1:
            raise click.BadParameter(f"{n} is in several workers' dead letters: name one of "
                                     f"{', '.join(holders)}", param_hint="--id")
    return out


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + "Z" if t else "?"


def _done_note(done: dict | None) -> str:
    if not done:
        return ""
    if done.get("how") == "discarded":
        return f"  (discarded {_when(done.get('time'))})"
    return f"  (replayed {_when(done.get('time'))} via {done.get('how')})"


RUN_DIR_HELP = "Run folder (default: QUANTRAC_RUN_DIR or .run/)."
CONFIG_HELP = "TOML options file, when it moves the dead-letter file."


@collector.group("dead-letters", invoke_without_command=True)
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help=RUN_DIR_HELP)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help=CONFIG_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show the last N entries.")
@click.option("--pending", is_flag=True, help="Only entries not replayed yet.")
@click.pass_context
def dead_letters(ctx: click.Context, run_dir: str | None, config_file: str | None, limit: int,
                 pending: bool) -> None:
    """List refused messages: id, time, topic, reason (and when they were replayed or
    discarded)."""
    ctx.obj = {"run_dir": run_dir, "config_file": config_file}
    if ctx.invoked_subcommand is not None:
        return
    from collector.dead_letters import read

    files = _dead_letter_files(_run_dir(run_dir), config_file)
    rows = [(label, e) for label, path in files for e in read(path, limit, pending_only=pending)]
    if not rows:
        click.echo(f"no {'pending ' if pending else ''}dead letters in "
                   f"{', '.join(str(p) for _, p in files)}")
        return
    rows.sort(key=lambda row: row[1].get("time") or 0)  # one list across the workers' files
    for label, e in rows[-limit:]:
        note = _done_note(e.get("replayed"))
        click.echo(f"{label}#{e['id']}  {_when(e.get('time'))}  {e.get('topic', '')}  "
                   f"[{e.get('class', '')}] {e.get('reason', '')}{note}")


@dead_letters.command("replay")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help=RUN_DIR_HELP)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help=CONFIG_HELP)
@click.option("--id", "ids", multiple=True,
              help="Only this entry: N, or w<i>#N / #N as listed with several files (repeatable).")
@click.option("--class", "classes", multiple=True,
              help="Only entries of this reason class, e.g. unit (repeatable).")
@click.option("--again", is_flag=True, help="Include entries already replayed.")
@click.option("--dry-run", is_flag=True, help="List what would be replayed; change nothing.")
@click.pass_context
def replay_cmd(ctx: click.Context, run_dir: str | None, config_file: str | None,
               ids: tuple[str, ...], classes: tuple[str, ...], again: bool,
               dry_run: bool) -> None:
    """Replay dead letters after a fix: refused messages are re-published to their topic (the
    running collector takes them again), refused readings are written to the database. Each
    one that went through is marked replayed."""
    from collector import config
    from collector.replay import replay

    parent = ctx.obj or {}
    folder = _run_dir(run_dir or parent.get("run_dir"))
    files = _dead_letter_files(folder, config_file or parent.get("config_file"))
    picked = _pick(files, ids, not again, classes)
    if not picked:
        click.echo(f"nothing to replay in {', '.join(str(p) for _, p in files)}")
        return
    if dry_run:
        for label, _, entries in picked:
            for e in entries:
                click.echo(f"would replay {label}#{e['id']}  {e.get('topic', '')}  "
                           f"[{e.get('class', '')}]")
        return
    try:
        env = config.services_env(folder)
    except config.ConfigError as e:
        raise click.ClickException(str(e)) from e
    results = []
    for label, path, entries in picked:
        for r in replay(path, env, entries):
            results.append(r)
            click.echo(f"{label}#{r['id']}  {'replayed' if r['ok'] else 'FAILED'} "
                       f"({r['how']}): {r['result']}")
    failed = sum(not r["ok"] for r in results)
    click.echo(f"{len(results) - failed} replayed, {failed} failed")
    if failed:
        raise SystemExit(1)


@dead_letters.command("discard")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help=RUN_DIR_HELP)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help=CONFIG_HELP)
@click.option("--id", "ids", multiple=True,
              help="This entry: N, or w<i>#N / #N as listed with several files (repeatable).")
@click.option("--class", "classes", multiple=True,
              help="Entries of this reason class, e.g. sink (repeatable).")
@click.option("--yes", is_flag=True, help="Do not ask.")
@click.pass_context
def discard_cmd(ctx: click.Context, run_dir: str | None, config_file: str | None,
                ids: tuple[str, ...], classes: tuple[str, ...], yes: bool) -> None:
    """Give up pending entries for good: marked discarded, the running collector drops them
    when it needs room (a full store stops acknowledging until replay or discard frees it)."""
    from collector.dead_letters import mark_replayed

    if not ids and not classes:
        raise click.UsageError("name what to discard: --id N or --class C (repeatable)")
    parent = ctx.obj or {}
    files = _dead_letter_files(_run_dir(run_dir or parent.get("run_dir")),
                               config_file or parent.get("config_file"))
    picked = _pick(files, ids, True, classes)
    entries = [e for _, _, es in picked for e in es]
    if not entries:
        click.echo(f"nothing to discard in {', '.join(str(p) for _, p in files)}")
        return
    sink = sum(e.get("class") == "sink" for e in entries)
    warn = f" ({sink} readings the database refused: they will never be stored)" if sink else ""
    if not yes and not click.confirm(f"discard {len(entries)} dead letters{warn}?"):
        raise SystemExit(1)
    now = time.time()
    for _, path, es in picked:
        mark_replayed(path, [{"id": e["id"], "digest": e["digest"], "time": now,
                              "how": "discarded", "result": "discarded by an operator"}
                             for e in es])
    click.echo(f"{len(entries)} discarded")


@collector.command()
@click.option("--run-dir", type=click.Path(file_okay=False), default=None, help=RUN_DIR_HELP)
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML options file, when it moves the data folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole status document.")
def status(run_dir: str | None, config_file: str | None, as_json: bool) -> None:
    """Per station: last seen, newest record, last-hour completeness, open alerts; spool."""
    import json

    from collector.config import ConfigError
    from quantrac.cli.collector_status import StatusError, load, render, status_path

    try:
        doc = load(status_path(_run_dir(run_dir), config_file))
    except (StatusError, ConfigError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(json.dumps(doc, indent=1) if as_json else "\n".join(render(doc)))


def _logging(level: str, log_file: Path) -> list[logging.Handler]:
    """Log to stderr and `log_file`; the handlers, for `run` to remove when it ends."""
    from collector.workers.run import setup_logging

    return setup_logging(level, log_file)
