"""One forecaster pass over every air station, and the hourly loop around it.

Each pass reads each station's hourly means from InfluxDB (InfluxQL), forecasts, writes the
`forecast` points and the warnings' `alert` points through the collector's InfluxDB sink, and
hands the warnings to the alert outputs (forecast/outputs.py): the forecaster's retained MQTT
topic always, and the webhook, e-mail and chat outputs the collector's options file configures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import boards
from collector.config import Settings
from collector.contracts import Point
from collector.sinks.influxdb.plugin import InfluxSink
from forecast import history
from forecast.feed import FeedConfig, FeedError
from forecast.forecaster import WEATHER, Forecaster, StationForecast, points
from forecast.outputs import warning_outputs
from forecast.warning import Warnings, load_rules

log = logging.getLogger("quantrac.forecast")
RUN_AT_MINUTE = 10  # after the hour: the collector's hourly means are in by then


@dataclass
class PassResult:
    forecasts: dict[str, StationForecast] = field(default_factory=dict)
    warnings: list[Point] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    # a station whose external feed failed: forecast all the same, the feed's hours missing
    feed_errors: dict[str, str] = field(default_factory=dict)


def fetch_feed(config: FeedConfig | None, station: str, result: PassResult
               ) -> dict[str, dict[int, float]] | None:
    """The station's external forecast, or every variable empty when the feed fails (said
    in the log and `result.feed_errors`): a feed outage must not stop the forecast."""
    if config is None:
        return None
    try:
        return config.fetch(station)
    except FeedError as e:
        log.warning("external feed for %s: %s", station, e)
        result.feed_errors[station] = str(e)
        return {v: {} for v in config.variables}


def sink(env: dict[str, str]) -> InfluxSink:
    return InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])


def run_pass(env: dict[str, str], stations: Iterable[str], forecaster: Forecaster,
             warnings: Warnings, now: int, send: Callable[[list[Point]], None] | None = None,
             db: InfluxSink | None = None, stop: threading.Event | None = None,
             feed: FeedConfig | None = None) -> PassResult:
    """Forecast every station from the hour ending `now` (epoch s, floored to the hour);
    with `stop` set, no further station is started; with `feed`, each station's external
    forecast is fetched and is a feature of its models."""
    now -= now % 3600
    db = db or sink(env)
    result = PassResult()
    params = tuple(forecaster.settings.params) + WEATHER
    for st in stations:
        if stop is not None and stop.is_set():
            break
        try:
            means = history.hourly(env, st, params, now, forecaster.settings.history_days)
            fc = forecaster.forecast(st, means, now, fetch_feed(feed, st, result))
        except Exception as e:  # one station's failure must not stop the others' forecasts
            log.exception("forecast for %s failed", st)
            result.errors[st] = str(e)
            continue
        result.forecasts[st] = fc
        written = db.write(points(fc))
        if written.error or written.rejected:
            result.errors[st] = written.error or str(written.rejected[:3])
        alerts = warnings.judge(fc)
        if alerts:
            db.write(alerts)
            if send:
                send(alerts)
            result.warnings += alerts
    return result


def loop(env: dict[str, str], stations: list[str], forecaster: Forecaster, warnings: Warnings,
         stop: threading.Event, send: Callable[[list[Point]], None] | None = None,
         feed: FeedConfig | None = None) -> None:
    """Every hour at RUN_AT_MINUTE, a pass; until `stop` is set."""
    while not stop.is_set():
        now = int(time.time())
        res = run_pass(env, stations, forecaster, warnings, now, send, stop=stop, feed=feed)
        log.info("forecast pass %d: %d stations, %d warnings, errors: %s%s", now - now % 3600,
                 len(res.forecasts), len(res.warnings), res.errors or "none",
                 f", feed failed for {', '.join(res.feed_errors)}" if res.feed_errors else "")
        nxt = now - now % 3600 + 3600 + RUN_AT_MINUTE * 60
        stop.wait(max(1.0, nxt - time.time()))


def air_stations() -> list[str]:
    """The registry's air stations: what the forecaster forecasts."""
    return [s.id for s in boards.registry().stations if s.kind == "air"]


def serve(env: dict[str, str], run_dir: Path, stop: threading.Event,
          stations: list[str] | None = None, feed: FeedConfig | None = None,
          settings: Settings | None = None) -> None:
    """The production forecaster until `stop` is set: a pass now, then every hour at
    RUN_AT_MINUTE. Reads with the read-only InfluxDB account (history.hourly), writes with
    the writer (`sink`), publishes warnings as the forecaster's MQTT account on their own
    retained topic and, with `settings` (the collector's options), sends them through the
    webhook, e-mail and chat outputs they configure (forecast/outputs.py). The warnings'
    state, dead letters and outbox live in `<run_dir>/forecast/`, so a restart neither
    repeats nor forgets a warning, nor loses one a receiver has not taken yet."""
    state = run_dir / "forecast"
    state.mkdir(parents=True, exist_ok=True)
    warnings = Warnings(load_rules(), state / "warnings.json")
    outputs = warning_outputs(env, state / "dead-letters.jsonl", settings,
                              outbox_dir=state / "alert-outbox")
    outputs.start()
    try:
        log.info("forecast warnings go to %s", ", ".join(outputs.names))
        loop(env, stations or air_stations(), Forecaster(), warnings, stop, outputs.send,
             feed)
    finally:
        outputs.stop()

