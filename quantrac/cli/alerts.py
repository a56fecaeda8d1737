"""`quantrac alerts`: the alerts people answer, from the operations room.

`list` reads each station's retained alert message (its open alerts, who acknowledged them,
how far they escalated) and the forecaster's retained warning message beside it
(`quantrac/v1/alerts/<station>/forecast`: its open forecast warnings, listed as forecasts with
their lead time, never as measurements); `ack` and `silence` publish an `answer` on
`quantrac/v1/<station>/answer` with the broker's operator account (the only one allowed to)
and wait for the collector to confirm it on the station's alert topic. Everything is checked
here first, so a typo is named at once instead of landing in the collector's dead letters.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import re
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from quantrac.cli.station import REGISTRY, RUN_DIR
from quantrac_common.protocol import ANSWER, PREFIX

DURATION = re.compile(r"\+?(\d+)\s*([mhd])")
UNIT_S = {"m": 60, "h": 3600, "d": 86400}
NOT_CONFIRMED = 3


def _registry(name: str):
    import boards

    try:
        return boards.registry(name)
    except boards.BoardsError as e:
        raise click.ClickException(str(e)) from None


def _who(_ctx, _param, value: str) -> str:
    """The collector refuses an answer whose `by` is empty or over 64 characters (into its
    dead letters): say so here, since silence and unsilence do not wait for it."""
    if not value.strip() or len(value) > 64:
        raise click.BadParameter("who answers must be named (1-64 characters)")
    return value.strip()


def parse_time(value: str, tz: ZoneInfo, now: float, what: str) -> int:
    """`2026-03-02T17:00` (local time without an offset), `2026-03-02T10:00+00:00`, or a
    duration from now (`90m`, `2h`, `1d`); BadParameter naming the option otherwise."""
    from collector.alerting.desk import FIRST_T, LAST_T

    m = DURATION.fullmatch(value.strip())
    if m:
        t = int(now) + int(m.group(1)) * UNIT_S[m.group(2)]
    else:
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise click.BadParameter(f"{value!r} is neither an ISO 8601 time (2026-03-02T17:00, "
                                     "local time) nor a duration (90m, 2h, 1d)",
                                     param_hint=what) from None
        t = int((dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp())
    if not FIRST_T <= t < LAST_T:  # the collector would refuse the answer: say it here
        raise click.BadParameter(f"{value!r} is not between 2023-11 and 2099", param_hint=what)
    return t


def _env(run_dir: Path | None) -> dict[str, str]:
    from collector import services
    from collector.services.state import ServicesError

    try:
        return services.load_env(run_dir)
    except ServicesError as e:
        raise click.ClickException(str(e)) from None


def _client(env: dict[str, str], on_message=None,
            subscribe: str | list[tuple[str, int]] | None = None):
    import paho.mqtt.client as mqtt

    ready = threading.Event()
    refused: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"quantrac-alerts-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(env["QUANTRAC_MQTT_OPERATOR_USER"],
                           env["QUANTRAC_MQTT_OPERATOR_PASSWORD"])

    def on_connect(c, _u, _f, rc, _p):
        if rc.is_failure:
            refused.append(str(rc))
            ready.set()
        elif subscribe:
            c.subscribe(subscribe, qos=1)
        else:
            ready.set()

    client.on_connect = on_connect
    client.on_subscribe = lambda *_a: ready.set()
    if on_message is not None:
        client.on_message = on_message
    where = f"{env['QUANTRAC_MQTT_HOST']}:{env['QUANTRAC_MQTT_PORT']}"
    try:
        client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    except OSError as e:
        raise click.ClickException(f"broker at {where}: cannot reach it ({e})") from None
    client.loop_start()
    if not ready.wait(10) or refused:
        client.disconnect()
        client.loop_stop()
        raise click.ClickException(f"broker at {where} refused the operator account "
                                   f"({refused[0] if refused else 'no answer'})")
    return client


def _close(client) -> None:
    client.disconnect()
    client.loop_stop()


FORECAST = "forecast"  # the forecaster's warnings: alerts/<station>/forecast


def retained(env: dict[str, str], station: str = "+", wait_s: float = 2.0) -> dict[str, dict]:
    """`<station>` → its retained alert message, `<station>/forecast` → its retained forecast
    warning message (the topic below `quantrac/v1/alerts/`)."""
    got: dict[str, dict] = {}
    base = f"{PREFIX}/alerts/"

    def on_message(_c, _u, msg):
        if msg.retain and msg.payload:
            with contextlib.suppress(ValueError):
                got[msg.topic.removeprefix(base)] = json.loads(msg.payload)

    client = _client(env, on_message, [(f"{base}{station}", 1),
                                       (f"{base}{station}/{FORECAST}", 1)])
    try:
        time.sleep(wait_s)  # retained messages come right after the subscription
    finally:
        _close(client)
    return dict(sorted(got.items()))


def warning_line(entry: dict, tz: ZoneInfo, now: float) -> str:
    """One open forecast warning: marked a forecast, the day, the forecast index and band of
    it, who it concerns, and the lead time (hours until the day starts, from now)."""
    who = "sensitive groups" if entry.get("group") == "sensitive" else "everyone"
    starts = entry.get("starts")
    if starts is None:
        lead = f"lead time {entry.get('lead_h', '?')} h at issue"
    elif starts > now:
        lead = f"lead time {int((starts - now) // 3600)} h (the day starts " \
               f"{_local(starts, tz)})"
    else:
        lead = "lead time 0 h (the forecast day has begun)"
    band = (f" ({entry['lo']}–{entry['hi']})" if entry.get("lo") is not None
            and entry.get("hi") is not None else "")
    return (f"{entry.get('id')}  FORECAST WARNING, not a measurement: daily VN_AQI on "
            f"{entry.get('day', '?')} forecast {entry.get('aqi', '?')}{band}, "
            f"≥ {entry.get('limit', '?')} for {who}; {lead}; confidence "
            f"{entry.get('confidence', '?')}; issued {_local(entry.get('issued'), tz)}")


def _answer(env: dict[str, str], station: str, doc: dict, confirm, wait_s: float) -> bool:
    """Publish `doc` (QoS 1, PUBACK awaited) and wait up to `wait_s` for a message on the
    station's alert topic for which `confirm(alert)` holds."""
    seen = threading.Event()

    def on_message(_c, _u, msg):
        with contextlib.suppress(ValueError):
            if confirm(json.loads(msg.payload)):
                seen.set()

    client = _client(env, on_message, f"{PREFIX}/alerts/{station}")
    try:
        info = client.publish(f"{PREFIX}/{station}/{ANSWER}",
                              json.dumps(doc, ensure_ascii=False), qos=1)
        info.wait_for_publish(10)
        if not info.is_published():
            raise click.ClickException("the broker did not take the answer")
        return seen.wait(wait_s)
    finally:
        _close(client)


def _local(t: float | None, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M") if t else "?"


BY = click.option("--by", default=getpass.getuser, show_default="your login name",
                  callback=_who, help="who answers (stored with the answer)")
WAIT = click.option("--wait", "wait_s", type=click.FloatRange(0, 600), default=15.0,
                    show_default=True, help="seconds to wait for the collector's confirmation")


@click.group("alerts")
def alerts() -> None:
    """Open alerts, acknowledgements and silences."""


@alerts.command("list")
@click.option("--station", default=None, help="one station only")
@click.option("--json", "as_json", is_flag=True,
              help="the retained messages as JSON, keyed by topic below quantrac/v1/alerts/ "
                   "(<station>, and <station>/forecast for its forecast warnings)")
@REGISTRY
@RUN_DIR
def list_(station: str | None, as_json: bool, registry_name: str,
          run_dir: Path | None) -> None:
    """Each station's open alerts: id, severity, since, escalation level, acknowledgement;
    then its open forecast warnings (not measurements) with their lead time."""
    reg = _registry(registry_name)
    tz = ZoneInfo(reg.timezone)
    if station is not None and station not in reg.ids() and station != "collector":
        raise click.BadParameter(f"{station!r} is not a station of registry {registry_name!r}",
                                 param_hint="--station")
    docs = retained(_env(run_dir), station or "+")
    if as_json:
        click.echo(json.dumps(docs, ensure_ascii=False, indent=2))
        return
    rows = 0
    for st, doc in docs.items():
        if st.endswith("/" + FORECAST):
            continue
        for entry in doc.get("open", []):
            rows += 1
            ack = entry.get("ack")
            who = (f"acknowledged by {ack['by']} {_local(ack.get('t'), tz)}"
                   + (f": {ack['note']}" if ack.get("note") else "")) if ack else "NOT acknowledged"
            level = f"  level {entry['level']}" if "level" in entry else ""
            click.echo(f"{entry.get('id')}  since {_local(entry.get('since'), tz)}{level}  {who}")
        if doc.get("silenced") and doc.get("state") == "open":
            s = doc["silenced"]
            click.echo(f"{st}: silenced ({s.get('source')}) by {s.get('by')}: {s.get('reason')}")
    if not rows:
        click.echo("no open alerts")
    now = time.time()
    warned = [entry for key, doc in docs.items() if key.endswith("/" + FORECAST)
              for entry in doc.get("open", [])]
    if warned:
        click.echo(f"forecast warnings ({len(warned)} open; forecasts, not measurements):")
        for entry in warned:
            click.echo(warning_line(entry, tz, now))


@alerts.command("ack")
@click.argument("alert_id")
@click.option("--note", required=True, help="what you found or did (stored with the ack)")
@BY
@WAIT
@REGISTRY
@RUN_DIR
def ack(alert_id: str, note: str, by: str, wait_s: float, registry_name: str,
        run_dir: Path | None) -> None:
    """Acknowledge ALERT_ID (<station>/<rule>/<time>, as `alerts list` shows it): it escalates
    no further, and the dashboards show who acknowledged it."""
    from collector.alerting.desk import ALERT_ID, MAX_TEXT

    m = ALERT_ID.match(alert_id)
    if m is None:
        raise click.BadParameter(f"{alert_id!r} is not an alert id <station>/<rule>/<time> "
                                 "(see `quantrac alerts list`)", param_hint="ALERT_ID")
    station = m.group(1)
    if m.group(2).startswith("forecast."):  # the collector would refuse it: no alert of its
        raise click.BadParameter(f"{alert_id!r} is a forecast warning, not a measured alert: "
                                 "it is not acknowledged and closes by itself when the "
                                 "forecast drops", param_hint="ALERT_ID")
    if station not in _registry(registry_name).ids() and station != "collector":
        raise click.BadParameter(f"{station!r} is not a station of registry {registry_name!r}",
                                 param_hint="ALERT_ID")
    if len(note) > MAX_TEXT:
        raise click.BadParameter(f"at most {MAX_TEXT} characters", param_hint="--note")
    doc = {"v": 1, "id": f"a-{uuid.uuid4().hex[:8]}", "act": "ack", "alert": alert_id,
           "by": by, "note": note, "t": int(time.time())}
    ok = _answer(_env(run_dir), station, doc,
                 lambda a: a.get("event") == "ack" and a.get("id") == alert_id, wait_s)
    if not ok:
        click.echo(f"sent, but the collector has not confirmed it within {wait_s:g} s: it may "
                   "be stopped (the broker keeps the answer for it) or have refused it (an "
                   "alert it does not know, or already acknowledged: `quantrac collector "
                   "dead-letters`, class answer)")
        raise SystemExit(NOT_CONFIRMED)
    click.echo(f"{alert_id} acknowledged by {by}")


@alerts.command("silence")
@click.argument("station")
@click.option("--until", "until", required=True,
              help="end: 2026-03-02T17:00 (local time), or a duration from now: 90m, 2h, 1d")
@click.option("--reason", required=True, help="why (maintenance, works at the station, …)")
@click.option("--from", "start", default=None, help="start (default now), as --until")
@BY
@WAIT
@REGISTRY
@RUN_DIR
def silence(station: str, until: str, reason: str, start: str | None, by: str, wait_s: float,
            registry_name: str, run_dir: Path | None) -> None:
    """Silence STATION's alerts (planned maintenance): they are stored, marked silenced, and
    reach nobody; its data in the window is marked as maintenance."""
    from collector.alerting.desk import MAX_TEXT

    reg = _registry(registry_name)
    if station not in reg.ids():
        raise click.BadParameter(f"{station!r} is not a station of registry {registry_name!r}",
                                 param_hint="STATION")
    if not reason.strip() or len(reason) > MAX_TEXT:
        raise click.BadParameter(f"a reason of 1-{MAX_TEXT} characters", param_hint="--reason")
    tz, now = ZoneInfo(reg.timezone), time.time()
    t0 = parse_time(start, tz, now, "--from") if start else int(now)
    t1 = parse_time(until, tz, now, "--until")
    if t1 <= t0:
        raise click.BadParameter(f"{_local(t1, tz)} is not after the start {_local(t0, tz)}",
                                 param_hint="--until")
    if t1 <= now:
        raise click.BadParameter(f"{_local(t1, tz)} has already passed", param_hint="--until")
    doc = {"v": 1, "id": f"a-{uuid.uuid4().hex[:8]}", "act": "silence", "by": by,
           "reason": reason, "from": t0, "until": t1, "t": int(now)}
    _answer(_env(run_dir), station, doc, lambda a: False, 0)
    click.echo(f"{station} silenced from {_local(t0, tz)} until {_local(t1, tz)} by {by}: "
               f"{reason}")


@alerts.command("unsilence")
@click.argument("station")
@BY
@REGISTRY
@RUN_DIR
def unsilence(station: str, by: str, registry_name: str, run_dir: Path | None) -> None:
    """End the operator's silence of STATION now."""
    if station not in _registry(registry_name).ids():
        raise click.BadParameter(f"{station!r} is not a station of registry {registry_name!r}",
                                 param_hint="STATION")
    doc = {"v": 1, "id": f"a-{uuid.uuid4().hex[:8]}", "act": "unsilence", "by": by,
           "t": int(time.time())}
    _answer(_env(run_dir), station, doc, lambda a: False, 0)
    click.echo(f"{station}: silence ended by {by}")
