"""`quantrac collector …`: run the collector on the run folder's services; list dead letters."""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path

import click

from quantrac import paths

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
def run(run_dir: str | None, config_file: str | None, log_level: str) -> None:
    """Collect until SIGINT/SIGTERM: MQTT -> validate -> InfluxDB, rejects to dead letters."""
    from collector import config
    from collector.metrics import summary
    from collector.pipeline import Collector

    folder = _run_dir(run_dir)
    try:
        settings = config.load(folder, config_file)
    except config.ConfigError as e:
        raise click.ClickException(str(e)) from e
    log_file = folder / "collector" / "collector.log"
    _logging(log_level.upper(), log_file)
    log = logging.getLogger("quantrac.collector")
    log.info("quantrac collector starting; effective config:")
    for line in settings.describe():
        log.info("  %s", line)

    done = threading.Event()

    def _signal(signum, frame) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        done.set()

    old = {s: signal.signal(s, _signal) for s in (signal.SIGINT, signal.SIGTERM)}
    c = Collector(settings)
    try:
        c.start()
        interval = settings.collector.summary_interval_s
        next_summary = time.monotonic() + interval
        while not done.wait(min(1.0, max(0.0, next_summary - time.monotonic()))):
            if not c.running:
                log.error("collector worker ended unexpectedly; exiting")
                break
            if time.monotonic() >= next_summary:
                log.info("summary: %s", summary(c.stats))
                next_summary += interval
    finally:
        c.stop()
        log.info("final: %s", summary(c.stats))
        for s, handler in old.items():
            signal.signal(s, handler)
    if not done.is_set():
        raise SystemExit(1)


@collector.command("dead-letters")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Run folder (default: QUANTRAC_RUN_DIR or .run/).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML options file, when it moves the dead-letter file.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show the last N entries.")
def dead_letters(run_dir: str | None, config_file: str | None, limit: int) -> None:
    """List refused messages: time, topic, reason."""
    from collector import config
    from collector.dead_letters import read

    folder = _run_dir(run_dir)
    path = folder / "collector" / "dead-letters.jsonl"
    if config_file:
        try:
            opts = config.build(config.CollectorOptions,
                                config.load_toml(Path(config_file)).get("collector", {}),
                                "collector")
        except config.ConfigError as e:
            raise click.ClickException(str(e)) from e
        if opts.dead_letters:
            path = Path(opts.dead_letters)
    entries = read(path, limit)
    if not entries:
        click.echo(f"no dead letters in {path}")
        return
    for e in entries:
        t = e.get("time")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + "Z" if t else "?"
        click.echo(f"{when}  {e.get('topic', '')}  [{e.get('class', '')}] {e.get('reason', '')}")


def _logging(level: str, log_file: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for handler in (logging.StreamHandler(), logging.FileHandler(log_file, encoding="utf-8")):
        handler.setFormatter(fmt)
        root.addHandler(handler)
