"""`quantrac hil …`: hardware-in-the-loop scenarios on the unix-port firmware or a real board."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import click

from quantrac_common import paths


def _scenarios(names: tuple[str, ...], run_all: bool, speed: float | None, folder: Path | None):
    from hil import scenario

    if run_all == bool(names):
        raise click.UsageError("name scenarios with --scenario, or run them all with --all")
    where = folder or scenario.HERE
    try:
        chosen = scenario.load_named(sorted(scenario.discover(where)) if run_all else list(names),
                                     where)
    except scenario.ScenarioError as e:
        raise click.ClickException(str(e)) from e
    if speed is not None:
        chosen = [dataclasses.replace(s, speed=speed) for s in chosen]
    return chosen


def _log_to(path: Path) -> logging.Handler:
    """The collector and bench log to a file: the terminal keeps the readable progress."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


dir_option = click.option("--dir", "folder", type=click.Path(file_okay=False, exists=True,
                                                             path_type=Path),
                          help="Scenario folder (default: hil/scenarios in the checkout).")


@click.group()
def hil() -> None:
    """Hardware-in-the-loop scenarios on the unix port or a real board."""


@hil.command("list")
@dir_option
def list_(folder: Path | None) -> None:
    """The scenarios in hil/scenarios/, the faults each plays, and the faults none plays."""
    from hil import faults, scenario

    covered: set[str] = set()
    for name, path in scenario.discover(folder or scenario.HERE).items():
        try:
            sc = scenario.load(path)
        except scenario.ScenarioError as e:
            click.echo(f"{name:<18} INVALID: {e}")
            continue
        kinds = sorted({f.fault.kind for f in sc.faults})
        covered.update(kinds)
        click.echo(f"{name:<18} {sc.duration_s / 3600:>4.1f} h ×{sc.speed:<4g} "
                   f"{len(sc.stations)} station(s) {len(sc.checks):>2} checks  "
                   f"faults: {', '.join(kinds) or 'none'}")
    missing = [k for k in faults.KINDS if k not in covered]
    click.echo(f"faults played: {len(covered)} of {len(faults.KINDS)}"
               + (f"; none plays {', '.join(missing)}" if missing else ""))


def _remember_registries(chosen: list, rd: Path) -> None:
    """Broker accounts for the stations of a scenario's own registry (`registry:` key)."""
    from collector.services import credentials
    from collector.services.state import Layout

    for reg in sorted({sc.registry for sc in chosen} - {credentials.DEFAULT_REGISTRY}):
        credentials.remember_registry(Layout(rd), reg)


@hil.command()
@click.option("--scenario", "names", multiple=True, metavar="NAME",
              help="Run this scenario (repeatable); see `quantrac hil list`.")
@click.option("--all", "run_all", is_flag=True, help="Run every scenario in hil/scenarios/.")
@dir_option
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON report here.")
@click.option("--jobs", type=click.IntRange(1, 16), default=6, show_default=True,
              help="Scenarios run side by side (only those sharing no station).")
@click.option("--speed", type=click.FloatRange(1, 100000),
              help="Override every scenario's clock speed (station seconds per real second).")
@click.option("--firmware", "firmware_dir", envvar="QUANTRAC_HIL_FIRMWARE",
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Firmware tree to run (default: $QUANTRAC_HIL_FIRMWARE or the checkout's "
                   "firmware/).")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder of the bench's services (default: .run/hil in the checkout).")
@click.option("--keep-data", is_flag=True,
              help="Keep each scenario's InfluxDB database (hil_<scenario>_<run id>).")
@click.option("--verbose", "-v", is_flag=True, help="List every check, not only failed ones.")
@click.option("--board", metavar="PORT",
              help="Run on a real ESP32 whose REPL is on PORT (see hil/README.md).")
@click.option("--uart", "uarts", multiple=True, metavar="NAME=DEVICE",
              help="With --board: the USB adapter standing for a station UART, "
                   "e.g. rs485=/dev/ttyUSB1 (repeatable).")
@click.option("--mqtt-host", help="With --board: broker address the board can reach.")
@click.option("--wifi-ssid", help="With --board: Wi-Fi network of the board.")
@click.option("--wifi-password", default="", help="With --board: Wi-Fi password.")
def run(names: tuple[str, ...], run_all: bool, folder: Path | None, report: Path | None,
        jobs: int,
        speed: float | None, firmware_dir: Path | None, run_dir: Path | None, keep_data: bool,
        verbose: bool, board: str | None, uarts: tuple[str, ...], mqtt_host: str | None,
        wifi_ssid: str | None, wifi_password: str) -> None:
    """Run scenarios through the real broker, collector and database; exit 1 if any fails."""
    from collector import services
    from hil import report as reports
    from hil import runner

    chosen = _scenarios(names, run_all, speed, folder)
    devices: dict[str, str] = {}
    if board:
        from hil import board as boardmode

        try:
            devices = boardmode.parse_uarts(uarts)
            boardmode.check_bench(chosen, devices, mqtt_host)
        except boardmode.BoardError as e:
            raise click.ClickException(str(e)) from e
    rd = paths.run_dir(run_dir or paths.run_dir() / "hil")
    handler = _log_to(rd / "hil.log")
    started = time.time()
    was_up = all(row["running"] for row in services.status(rd))
    try:
        _remember_registries(chosen, rd)
        env = services.up(rd)
    except (services.ServicesError, OSError) as e:
        logging.getLogger().removeHandler(handler)
        raise click.ClickException(str(e)) from e
    click.echo(f"bench services in {rd} (log: {rd / 'hil.log'})")
    try:
        if board:
            from hil import board as boardmode

            try:
                results = boardmode.run_scenarios(
                    chosen, env, rd, board, devices, mqtt_host,
                    wifi_ssid, wifi_password, firmware_dir, keep_data, say=click.echo)
            except boardmode.BoardError as e:
                raise click.ClickException(str(e)) from e
        else:
            results = runner.run_all(chosen, env, rd, jobs=jobs, firmware_dir=firmware_dir,
                                     keep_data=keep_data, say=click.echo)
    finally:
        if not was_up:
            services.down(rd)
        logging.getLogger().removeHandler(handler)
        handler.close()
    firmware = str(firmware_dir or paths.FIRMWARE)
    doc = reports.document(results, started, firmware, board)
    if report:
        reports.write(doc, report)
    click.echo("")
    click.echo(reports.table(results, verbose))
    if report:
        click.echo(f"report: {report}")
    if not doc["passed"]:
        raise SystemExit(1)
