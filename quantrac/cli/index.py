"""`quantrac index …`: VN_AQI and VN_WQI from given means, noise levels from samples, to
check a number by hand.

`aqi` and `wqi` read one JSON object on stdin, `noise` its levels from --levels or a JSON list
on stdin; each prints one JSON object. Bad input exits with status 2 and a message on stderr
naming what was wrong.
"""

from __future__ import annotations

import json
import sys

import click

from collector.domain import aqi as vn_aqi
from collector.domain import aqi_health
from collector.domain import noise as vn_noise
from collector.domain import wqi as vn_wqi

BAD_INPUT = 2


def _fail(msg: str) -> None:
    click.echo(f"Error: {msg}", err=True)
    raise click.exceptions.Exit(BAD_INPUT)


def _stdin_json() -> object:
    text = sys.stdin.read()
    try:
        # NaN and Infinity are not JSON numbers; refuse them here rather than deep in the maths
        return json.loads(text, parse_constant=lambda c: _fail(f"{c} is not a number"))
    except json.JSONDecodeError as e:
        _fail(f"stdin is not JSON ({e})")


def _object(doc: object, example: str) -> dict:
    if not isinstance(doc, dict):
        _fail(f"expected a JSON object like {example}, got {type(doc).__name__}")
    return doc


@click.group()
def index() -> None:
    """VN_AQI and VN_WQI from given means, noise levels: to check a number by hand."""


@index.command()
@click.option("--period", type=click.Choice(["hour", "day"]), default="hour", show_default=True,
              help="hour: current hour (PM by NowCast); day: the last 24 hours (01:00 … 00:00).")
def aqi(period: str) -> None:
    """VN_AQI (Decision 1459) from hourly means in µg/m³ on stdin.

    \b
    Input:  {"pm2_5": [..., 32.0], "o3": [..., 95.5], "no2": [...]}
            params so2, co, no2, o3, pm10, pm2_5; oldest hour first, null where missing.
    Output: {"aqi": 75, "dominant": "pm2_5", "sub": {"pm2_5": 75, ...}, "band": "moderate",
             "colour": "#ffff00", "advice": {"health": {"vi", "en"}, "general": {...},
             "sensitive": {...}, ...}}: the band's colour, health message and recommended
             activities (Decision 1459, Bảng 4 and 5); null without an AQI.
    """
    means = _object(_stdin_json(), '{"pm2_5": [12.0, null, 30.5]}')
    compute = vn_aqi.hourly_aqi if period == "hour" else vn_aqi.daily_aqi
    try:
        res = compute(means)
    except vn_aqi.AqiTableError as e:
        raise click.ClickException(str(e)) from e
    except ValueError as e:
        _fail(str(e))
    advice = None if res.aqi is None else aqi_health.of_aqi(res.aqi)
    click.echo(json.dumps({"aqi": res.aqi, "dominant": res.dominant, "sub": res.sub,
                           "band": advice and advice["band"],
                           "colour": advice and advice["colour"], "advice": advice},
                          ensure_ascii=False))


@index.command()
@click.option("--station", "station_id",
              help="the registry station the values are from: VN_WQI is refused unless it "
                   "watches surface water (default: the values are surface water)")
@click.option("--registry", "registry_name", default="phu-quoc", show_default=True,
              help="registry name under boards/registry, or a path to a registry .json file")
def wqi(station_id: str | None, registry_name: str) -> None:
    """VN_WQI (Decision 1460) from one set of surface-water values on stdin.

    \b
    Input:  {"ph": 7.2, "do": 6.1, "temp": 28.5, "nh4": 0.2}
            do in mg/L (needs temp in °C), nh4 in mg/L as N; null where not measured.
    Output: {"wqi": null, "status": "not_computed", "why": "data sufficiency not met: …",
             "indicative": 97, "indicative_class": "very_good", "class": null,
             "sub": {"ph": 100.0, ...}}
            `wqi` is the official index, only when the data-sufficiency rule is met;
            `indicative` is the index of the parameters at hand, never published as VN_WQI.
    A tap, waste or sea-water station (--station) is refused with the reason.
    """
    kind = "surface_water"
    if station_id:
        import boards
        from quantrac.field import registry_file

        try:
            kind = registry_file.load(registry_name).get(station_id).kind
        except (registry_file.RegistryError, boards.BoardsError) as e:
            raise click.ClickException(str(e)) from None
    try:
        refused = vn_wqi.refusal(kind)
    except vn_wqi.WqiTableError as e:
        raise click.ClickException(str(e)) from e
    if refused:
        raise click.ClickException(f"{station_id}: {refused}")
    values = _object(_stdin_json(), '{"ph": 7.2, "do": 6.1, "temp": 28.5, "nh4": 0.2}')
    try:
        res = vn_wqi.wqi(values)
    except vn_wqi.WqiTableError as e:
        raise click.ClickException(str(e)) from e
    except ValueError as e:
        _fail(str(e))
    out = {"wqi": res.wqi, "status": res.status, "why": res.why, "indicative": res.indicative,
           "class": res.cls, "indicative_class": res.indicative_cls, "sub": res.sub}
    if station_id:
        out["station"] = station_id
    click.echo(json.dumps(out, ensure_ascii=False))


def _levels_option(text: str) -> list[float]:
    out = []
    for i, part in enumerate(text.split(",")):
        try:
            out.append(float(part))
        except ValueError:
            _fail(f"--levels: item {i} ({part.strip()!r}) is not a number in dB")
    return out


@index.command()
@click.option("--levels", "levels_text", metavar="L1,L2,…",
              help="sound levels in dB(A), comma-separated (default: a JSON list on stdin)")
def noise(levels_text: str | None) -> None:
    """LAeq, LAmax, LAmin, L10, L50, L90 of equally spaced sound levels.

    \b
    Input:  --levels 50,60,70   or   [50, 60, 70] on stdin (dB(A), 0..200)
    Output: {"laeq": 65.7, "lamax": 70.0, "lamin": 50.0, "l10": 70.0, "l50": 60.0,
             "l90": 50.0}, in dB to 0.1. LAeq is the energy mean 10·log10(mean of
             10^(L/10)), never the arithmetic one; Ln is the level exceeded n % of the time.
    """
    if levels_text is not None:
        levels: object = _levels_option(levels_text)
    else:
        if sys.stdin.isatty():
            _fail("give the levels: --levels 50,60,70 or a JSON list on stdin")
        levels = _stdin_json()
        if not isinstance(levels, list):
            _fail(f"expected a JSON list of levels like [50, 60, 70], "
                  f"got {type(levels).__name__}")
    try:
        res = vn_noise.summary(levels)  # type: ignore[arg-type]
    except vn_noise.NoiseError as e:
        _fail(str(e))
    click.echo(json.dumps({k: round(v, 1) for k, v in res.items()}))
