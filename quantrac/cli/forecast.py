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


def _feed(_ctx, _param, url: str | None):
    """--feed-url (with --feed-vars, read first: is_eager) → a FeedConfig, or None."""
    if not url:
        return None
    from forecast.feed import FeedConfig, FeedError

    try:
        return FeedConfig.of(url, _ctx.params.get("feed_vars") or DEFAULT_FEED_VARS)
    except FeedError as e:
        raise click.BadParameter(str(e)) from None


DEFAULT_FEED_VARS = "pm2_5,pm10"
FEED_VARS = click.option("--feed-vars", "feed_vars", default=DEFAULT_FEED_VARS,
                         show_default=True, is_eager=True,
                         envvar="QUANTRAC_FORECAST_FEED_VARS",
                         help="the feed's hourly variables, comma-separated; each is a "
                              "feature of every parameter's model")
FEED_URL = click.option("--feed-url", "feed", default=None, callback=_feed,
                        envvar="QUANTRAC_FORECAST_FEED_URL",
                        help="an external forecast feed (JSON with hourly arrays, as "
                             "Open-Meteo's): a URL template that may name {station}, {lat}, "
                             "{lon} (the registry's coordinates); https, or http to this "
                             "machine. Default: none")


@forecast.command()
@click.option("--station", required=True, help="the station id (its hourly means in InfluxDB)")
@click.option("--at", "at", type=int, default=None,
              help="forecast from the hour ending at this UTC epoch second (default: now)")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="run folder holding services.env (default: QUANTRAC_RUN_DIR or .run/)")
@FEED_VARS
@FEED_URL
def run(station: str, at: int | None, run_dir: str | None, feed_vars: str, feed) -> None:
    """One station's forecast now, in the terminal: PM2.5 and PM10 central value and
    10th-90th percentile at +1…72 h (every 6 h shown), the model used and why (and how many
    hours ahead the external feed covers), and the forecast daily VN_AQI. Trains first
    (seconds to a minute); stores nothing."""
    from datetime import UTC, datetime

    from collector.config import ConfigError, services_env
    from forecast import history
    from forecast.forecaster import WEATHER, Forecaster
    from quantrac_common import paths
    from quantrac_common.influxql import QueryError

    try:
        env = services_env(paths.run_dir(run_dir))
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    now = int(time.time()) if at is None else at
    now -= now % 3600
    f = Forecaster()
    try:
        means = history.hourly(env, station, f.settings.params + WEATHER, now,
                               f.settings.history_days)
    except QueryError as e:
        raise click.ClickException(str(e)) from None
    if not any(p in means for p in f.settings.params):
        _fail(f"{station}: no complete hourly PM2.5 or PM10 mean in the "
              f"{f.settings.history_days} days before "
              f"{datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M}Z")
    from forecast.service import PassResult, fetch_feed

    fetched = PassResult()
    fc = f.forecast(station, means, now, fetch_feed(feed, station, fetched))
    if fetched.feed_errors:
        click.echo(f"external feed unavailable, forecast without it: "
                   f"{fetched.feed_errors[station]}", err=True)
    click.echo(f"{station}: forecast issued {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M}Z"
               " (a forecast, not a measurement)")
    for p, pf in fc.params.items():
        click.echo(f"{p}: model {pf.model}" + (f" ({pf.note})" if pf.note else ""))
        if pf.model == "none":
            continue
        click.echo("     h   µg/m³   10th–90th")
        for h in (1, *range(6, len(pf.values) + 1, 6)):
            v, lo, hi = pf.values[h - 1]
            click.echo(f"  {h:4d} {v:7.1f}   {lo:5.1f}–{hi:.1f}")
    for t, a, lo, hi in fc.aqi_daily:
        day = datetime.fromtimestamp(t - 3600 + 7 * 3600, UTC).strftime("%Y-%m-%d")
        click.echo(f"daily VN_AQI {day} (local): {a} ({lo}–{hi})")


@forecast.command()
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="run folder holding services.env (default: QUANTRAC_RUN_DIR or .run/)")
@click.option("--station", "stations", multiple=True,
              help="forecast only this station (repeatable; default: every air station of "
                   "the registry)")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="the collector's TOML options file (collector/sample.toml): warnings also "
                   "go to the webhook, e-mail and chat outputs it configures ([sinks.notify], "
                   "[sinks.chat]). Default: none, the retained MQTT topic only")
@FEED_VARS
@FEED_URL
def serve(run_dir: str | None, stations: tuple[str, ...], config_file: str | None,
          feed_vars: str, feed) -> None:
    """Run the forecaster: a pass now, then every hour at :10, for every air station;
    writes `forecast` points, opens and closes warnings (retained on
    quantrac/v1/alerts/<station>/forecast, and through the collector's webhook, e-mail and
    chat outputs with --config). Stops cleanly on SIGINT or SIGTERM."""
    import logging
    import signal
    import threading

    from collector.config import ConfigError, load, services_env
    from forecast import outputs, service
    from quantrac_common import paths

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    folder = paths.run_dir(run_dir)
    try:
        env = services_env(folder)
        outputs.require(env)
        settings = load(folder, config_file) if config_file else None
    except (ConfigError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        click.echo(f"forecast: {signal.Signals(signum).name}, stopping after the station in "
                   "progress", err=True)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    click.echo(f"forecast: serving {', '.join(stations) or 'every air station'} "
               f"(run folder {folder})", err=True)
    if feed is not None:
        from urllib.parse import urlsplit

        # the host only: the URL's query may carry the feed's API key
        click.echo(f"forecast: external feed {', '.join(feed.variables)} from "
                   f"{urlsplit(feed.url).hostname}", err=True)
    service.serve(env, Path(folder), stop, list(stations) or None, feed, settings)
    click.echo("forecast: stopped", err=True)
