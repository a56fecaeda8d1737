"""`quantrac forecast …`: the rolling-origin backtest of the station forecaster on an hourly
CSV (forecast/README.md).

Bad input (a CSV that cannot be read as an hourly series, too short a series) exits with
status 2 and a message on stderr naming the file, the line and what is wrong.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import click

BAD_INPUT = 2
SHOWN = (1, 3, 6, 12, 24, 36, 48, 72)


def _fail(msg: str) -> None:
    click.echo(f"Error: {msg}", err=True)
    raise click.exceptions.Exit(BAD_INPUT)


@click.group()
def forecast() -> None:
    """Station forecasts of PM2.5, PM10 and VN_AQI 1-72 h ahead: the backtest."""


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


@forecast.command()
@click.option("--csv", "csv_path", required=True, type=click.Path(path_type=Path),
              help="hourly CSV: a time_utc column and the parameter's (empty = missing)")
@click.option("--param", default="pm2_5", show_default=True, help="the parameter's column")
@click.option("--json", "json_out", type=click.Path(path_type=Path),
              help="write the full result (per horizon, warnings, fits) as JSON here")
@click.option("--origins-every", "every", default=6, show_default=True,
              type=click.IntRange(1, 24 * 7), help="hours between forecast origins")
@click.option("--train-days", default=365, show_default=True, type=click.IntRange(30, 3650),
              help="days of history before the first origin")
@click.option("--quiet", is_flag=True, help="no progress lines on stderr")
def backtest(csv_path: Path, param: str, json_out: Path | None, every: int, train_days: int,
             quiet: bool) -> None:
    """Rolling-origin backtest: train on the first --train-days, then forecast 1-72 h ahead
    from an origin every --origins-every hours, retraining as the forecaster does, and score
    against persistence, the seasonal naive and the linear baseline.

    \b
    Prints per horizon n, MAE, RMSE and skill = 1 - MSE_model / MSE_baseline, then the
    next-day warnings (daily VN_AQI > 100, > 150 from the 12:00 forecast): POD, FAR, CSI.
    """
    from forecast import backtest as bt
    from forecast.series import SeriesError, read_csv

    t0 = time.monotonic()
    try:
        series = read_csv(csv_path, param)
    except SeriesError as e:
        _fail(str(e))
    settings = bt.BacktestSettings(train_days=train_days, origins_every_h=every)
    say = None if quiet else (lambda m: click.echo(f"[{time.monotonic() - t0:7.1f} s] {m}",
                                                    err=True))
    try:
        result = bt.run(series, settings, progress=say)
    except bt.BacktestError as e:
        _fail(f"{csv_path}: {e}")
    result["run"] = {"seconds": round(time.monotonic() - t0, 1),
                     "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                         / 1024, 1)}
    if json_out:
        json_out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    click.echo(f"{csv_path.name} {param}: {result['settings']['origins']} origins every "
               f"{every} h after {train_days} days, {len(result['fits'])} trainings")
    click.echo("   h      n     mae    rmse  skill/pers  skill/seas  skill/lin  cover80")
    for r in result["horizons"]:
        if r["h"] in SHOWN:
            click.echo(f"{r['h']:4d} {r['n']:6d} {r['mae']:7.2f} {r['rmse']:7.2f}"
                       f"      {_fmt(r['skill_vs_persistence'])}      "
                       f"{_fmt(r['skill_vs_seasonal'])}     {_fmt(r['skill_vs_linear'])}"
                       f"   {_fmt(r['interval_coverage'])}")
    w = result["warnings"]
    for key in ("aqi_gt_100", "aqi_gt_150"):
        c = w[key]
        click.echo(f"next-day {key}: hits {c['hits']} misses {c['misses']} false alarms "
                   f"{c['false_alarms']}  POD {c['pod']} FAR {c['far']} CSI {c['csi']} "
                   f"({w['days']} days)")
    click.echo(f"{result['run']['seconds']} s, max RSS {result['run']['max_rss_mb']} MB",
               err=True)
    sys.stdout.flush()
