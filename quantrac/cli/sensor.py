"""`quantrac sensor …`: an RS-485 sensor on the laptop's USB adapter, before it meets a board."""

from __future__ import annotations

import click

PORT = click.option("--port", required=True, help="the USB-RS485 adapter, e.g. /dev/ttyUSB0")


def _range(value: str) -> range:
    lo, sep, hi = value.partition("-")
    try:
        first, last = int(lo), int(hi if sep else lo)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not N or FIRST-LAST (e.g. 1-32)") from None
    if not 1 <= first <= last <= 247:
        raise click.BadParameter(f"{value!r}: addresses run 1..247")
    return range(first, last + 1)


@click.group()
def sensor() -> None:
    """Probe, read and address RS-485 sensors from the laptop."""


@sensor.command()
@PORT
@click.option("--addresses", default="1-32", show_default=True, help="N or FIRST-LAST")
@click.option("--baud", "bauds", type=int, multiple=True,
              help="speed to try (repeat); default 9600")
@click.option("--all-bauds", is_flag=True, help="try 2400 … 115200")
@click.option("--identify/--no-identify", default=True, show_default=True,
              help="say which catalog models each answer fits")
def probe(port: str, addresses: str, bauds: tuple[int, ...], all_bauds: bool,
          identify: bool) -> None:
    """Which addresses answer at which speed, and what they look like."""
    from quantrac.field import probe as p

    speeds = p.BAUDS if all_bauds else bauds or (9600,)
    try:
        span = _range(addresses)
    except click.BadParameter as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"scanning {port}: addresses {span.start}-{span.stop - 1} at "
               f"{', '.join(map(str, speeds))} baud")
    try:
        with p.Line(port) as line:
            found = p.scan(line, span, speeds)
            for a in found:
                fits = p.identify(line, a.address, a.baud) if identify else []
                click.echo(f"address {a.address:>3} @ {a.baud:>6}: fn {a.function:02d} "
                           f"{a.reply}" + (f"; fits {', '.join(fits)}" if fits else ""))
    except p.ProbeError as e:
        raise click.ClickException(str(e)) from None
    if not found:
        click.echo("nothing answered (wiring A/B swapped? sensor powered? another speed?)")
        raise SystemExit(1)


def _show(readings) -> bool:
    ok = True
    for r in readings:
        state = "ok" if r.in_range else "NO VALUE" if r.value is None else "OUT OF RANGE"
        ok = ok and r.in_range
        value = "-" if r.value is None else f"{round(r.value, 4):g}"
        click.echo(f"  {r.param:<9}{value:>10} {r.unit:<6} {r.low:g} .. {r.high:g}  {state}"
                   + (f" ({r.why})" if r.why else ""))
    return ok


@sensor.command()
@PORT
@click.option("--model", required=True, help="catalog model, e.g. qt-thp-485")
@click.option("--address", type=click.IntRange(1, 247), help="default: the model's")
@click.option("--baud", type=int, help="default: the model's")
def read(port: str, model: str, address: int | None, baud: int | None) -> None:
    """Every channel of a catalog model, decoded, with its range check."""
    from quantrac.field import probe as p

    try:
        with p.Line(port) as line:
            readings = p.read(line, model, address, baud)
    except p.ProbeError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{model} at address {address or p.model(model)['modbus']['default_address']}:")
    if not _show(readings):
        raise SystemExit(1)


@sensor.command("set-address")
@PORT
@click.option("--model", required=True,
              help="catalog model, or a model file path/to/<model>.json not yet in the catalog")
@click.option("--from", "--address", "address", type=click.IntRange(1, 247),
              help="the sensor's current address (default: the model's broadcast set-up "
                   "address, for a sensor alone on the line)")
@click.option("--to", "--new-address", "new_address", type=click.IntRange(1, 247),
              help="the new address")
@click.option("--set-baud", "new_baud", type=int, help="the new speed, if the model has a baud "
              "procedure (modbus.setup.baud)")
@click.option("--baud", type=int, help="the sensor's current speed (default: the model's)")
def set_address(port: str, model: str, address: int | None, new_address: int | None,
                new_baud: int | None, baud: int | None) -> None:
    """Give a sensor a new slave address and/or speed the maker's way (the catalog's
    modbus.setup: register, FC06 or FC16, ID in the high byte, baud code, unlock, save),
    then read it there."""
    from quantrac.field import probe as p

    if new_address is None and new_baud is None:
        raise click.UsageError("give --to ADDRESS, --set-baud BPS or both")
    try:
        with p.Line(port) as line:
            done = p.set_up(line, model, address, new_address, new_baud, baud)
    except p.ProbeError as e:
        raise click.ClickException(str(e)) from None
    for w in done.sent:
        click.echo(f"  wrote {w.what}: function {w.function:02d}, register {w.register}, "
                   f"value {w.value}")
    where = f"address {done.address}, {done.baud} baud"
    if done.takes_effect == "restart":
        click.echo(f"{model}: takes effect after a power cycle; then it answers at {where} "
                   f"(quantrac sensor read --model {model} --address {done.address} "
                   f"--baud {done.baud})")
        return
    if done.address == 0:
        click.echo(f"{model}: every sensor on the line now runs at {done.baud} baud; read "
                   "each at its address to check")
        return
    click.echo(f"{model}: now at {where}; reading there:")
    _show(done.readings)
