"""`quantrac station cmd` and `quantrac station configure`: a running station, over MQTT.

Both go through the broker of the run folder (its operator account, services.env) and wait
for the station's answer; exit 0 when it did what was asked, 1 when it refused (the reason is
printed), 3 when it has not answered within --wait (it is offline: the broker keeps the
message for it until --expire-in has passed).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import click

from quantrac.cli.station import REGISTRY, RUN_DIR, _station
from quantrac_common.protocol import CMDS, SETTABLE

NOT_ANSWERED = 3
DURATION = re.compile(r"(\d+)\s*([smhd]?)")
UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> int:
    if value in ("0", "never"):
        return 0
    m = DURATION.fullmatch(value.strip())
    if not m:
        raise click.BadParameter(f"{value!r} is not a duration like 90s, 10m, 2h, 1d or never")
    return int(m.group(1)) * UNIT_S[m.group(2)]


EXPIRE = click.option("--expire-in", default="1h", show_default=True, callback=_duration,
                      help="the station refuses it after this long (it may wait at the broker "
                           "while the station is offline); 'never' for no limit")
WAIT = click.option("--wait", "wait_s", type=click.FloatRange(0, 3600), default=30.0,
                    show_default=True, help="seconds to wait for the station's answer")


def _env(run_dir: Path | None) -> dict[str, str]:
    from collector import services
    from collector.services.state import ServicesError

    try:
        return services.load_env(run_dir)
    except ServicesError as e:
        raise click.ClickException(str(e)) from None


def _send(run_dir: Path | None, station_id: str, kind: str, body: dict, expire_in: int,
          wait_s: float) -> None:
    from quantrac.field import command

    doc = command.message(kind, body, expire_in)
    try:
        out = command.send(_env(run_dir), station_id, kind, doc, wait_s)
    except command.CommandError as e:
        raise click.ClickException(str(e)) from None
    what = body.get("cmd") or "config " + ", ".join(sorted(body.get("set", {})))
    ack = out.ack
    if ack is None:
        until = (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(doc["exp"]))
                 if "exp" in doc else "it connects, however long that takes")
        click.echo(f"{station_id} has not answered {what} ({out.id}) in {wait_s:g} s: it is "
                   f"offline or busy; the broker keeps it for the station until {until}")
        sys.exit(NOT_ANSWERED)
    extra = {k: v for k, v in ack.items()
             if k not in ("v", "st", "boot", "ev", "t", "id", "ok", "why", "cmd")}
    if not ack.get("ok"):
        click.echo(f"{station_id} refused {what} ({out.id}): {ack.get('why', 'no reason given')}")
        sys.exit(1)
    click.echo(f"{station_id} did {what} ({out.id}, boot {ack.get('boot')})")
    for key, value in extra.items():
        click.echo(f"  {key}: {json.dumps(value, ensure_ascii=False)}")


@click.command("cmd")
@click.argument("station_id")
@click.argument("name", metavar="COMMAND",
                type=click.Choice(CMDS))
@click.option("--param", "params", multiple=True,
              help="cal_start/cal_stop: a parameter (repeat); default every parameter")
@click.option("--seconds", type=click.IntRange(1, 86400), help="report_interval: the new one")
@EXPIRE
@WAIT
@REGISTRY
@RUN_DIR
def cmd(station_id: str, name: str, params: tuple[str, ...], seconds: int | None,
        expire_in: int, wait_s: float, registry_name: str, run_dir: Path | None) -> None:
    """Send COMMAND to a running station and print its answer.

    \b
      ping              its uptime
      backlog           records waiting on its flash, dropped, capacity
      cal_start/stop    calibration mode (status 01) for --param, kept across reboots
      report_interval   --seconds: a new report interval, persisted
      reboot            restart the board
    """
    st = _station(registry_name, station_id)
    if params and name not in ("cal_start", "cal_stop"):
        raise click.UsageError(f"--param is for cal_start and cal_stop, not {name}")
    unknown = sorted(set(params) - set(st.params()))
    if unknown:
        raise click.BadParameter(f"{unknown[0]!r} is not measured at {st.id} "
                                 f"({', '.join(st.params())})", param_hint="--param")
    if (seconds is None) == (name == "report_interval"):
        raise click.UsageError("--seconds goes with report_interval, and only with it")
    args: dict = {}
    if params:
        args["params"] = list(params)
    if seconds is not None:
        args["s"] = seconds
    _send(run_dir, st.id, "cmd", {"cmd": name, "args": args}, expire_in, wait_s)


@click.command("configure")
@click.argument("station_id")
@click.argument("settings", nargs=-1, required=True, metavar="KEY=VALUE...")
@EXPIRE
@WAIT
@REGISTRY
@RUN_DIR
def configure(station_id: str, settings: tuple[str, ...], expire_in: int, wait_s: float,
              registry_name: str, run_dir: Path | None) -> None:
    """Change a running station's config: KEY is sample_s, report_s, health_s, cal or log,
    VALUE is JSON (report_s=60, 'cal={"so2": {"v": 2, "offset": 1.5}}', 'cal={"so2": null}',
    'log={"level": "debug"}'). The station checks the whole result and keeps its old config
    if anything is wrong."""

    st = _station(registry_name, station_id)
    changes: dict = {}
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="KEY=VALUE")
        if key not in SETTABLE:
            raise click.BadParameter(f"{key!r} cannot be set remotely (only "
                                     f"{', '.join(SETTABLE)})", param_hint="KEY=VALUE")
        try:
            changes[key] = json.loads(text)
        except ValueError:
            raise click.BadParameter(f"{key}: {text!r} is not JSON (a number, or an object in "
                                     "quotes)", param_hint="KEY=VALUE") from None
    _send(run_dir, st.id, "config", {"set": changes}, expire_in, wait_s)
