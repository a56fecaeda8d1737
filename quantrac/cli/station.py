"""`quantrac station …`: stations from the registry, and the config a board runs from."""

from __future__ import annotations

import json
from pathlib import Path

import click

import boards


@click.group()
def station() -> None:
    """Station configs from the registry."""


@station.command("list")
@click.option("--registry", "registry_name", default="phu-quoc", show_default=True)
def list_stations(registry_name: str) -> None:
    """Every station: id, kind, profile, coordinates, name."""
    try:
        reg = boards.registry(registry_name)
    except boards.BoardsError as e:
        raise click.ClickException(str(e)) from e
    for s in reg.stations:
        click.echo(f"{s.id:<12} {s.kind:<11} {s.profile:<13} {s.lat:8.4f} {s.lon:9.4f}  {s.name}")


def _port(value: str) -> tuple[str, dict]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f"{value!r} is not NAME=DEVICE (e.g. rs485=/dev/ttyUSB0)")
    return name, {"path": path}


@station.command()
@click.argument("station_id")
@click.option("--port", "ports", multiple=True, required=True,
              help="UART name=device, e.g. rs485=/dev/ttyUSB0 (repeat for each UART).")
@click.option("--mqtt-host", required=True)
@click.option("--mqtt-port", type=click.IntRange(1, 65535), default=1883, show_default=True)
@click.option("--sample-s", type=click.IntRange(1, 3600))
@click.option("--report-s", type=click.IntRange(1, 86400))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default="-")
def config(station_id: str, ports: tuple[str, ...], mqtt_host: str, mqtt_port: int,
           sample_s: int | None, report_s: int | None, out: Path) -> None:
    """Write the firmware config for STATION_ID (the password comes from its secrets file)."""
    try:
        st = boards.registry().get(station_id)
        cfg = boards.firmware_config(st, dict(_port(p) for p in ports),
                                     {"host": mqtt_host, "port": mqtt_port, "user": st.id},
                                     sample_s=sample_s, report_s=report_s)
    except (boards.BoardsError, click.BadParameter) as e:
        raise click.ClickException(str(e)) from e
    text = json.dumps(cfg, indent=1, ensure_ascii=False) + "\n"
    if str(out) == "-":
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}")
