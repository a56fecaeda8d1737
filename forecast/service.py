"""One forecaster pass over every air station, and the hourly loop around it.

Each pass reads each station's hourly means from InfluxDB (InfluxQL), forecasts, writes the
`forecast` points and the warnings' `alert` points through the collector's InfluxDB sink, and
hands the warnings to the existing alert outputs (retained MQTT, webhook, e-mail, chat).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from collector.contracts import Point
from collector.sinks.influxdb.plugin import InfluxSink
from forecast import history
from forecast.forecaster import WEATHER, Forecaster, StationForecast, points
from forecast.warning import Warnings

log = logging.getLogger("quantrac.forecast")
RUN_AT_MINUTE = 10  # after the hour: the collector's hourly means are in by then


@dataclass
class PassResult:
    forecasts: dict[str, StationForecast] = field(default_factory=dict)
    warnings: list[Point] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def sink(env: dict[str, str]) -> InfluxSink:
    return InfluxSink(env["QUANTRAC_INFLUX_WRITE_URL"], env["QUANTRAC_INFLUX_DB"],
                      env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"])


def run_pass(env: dict[str, str], stations: Iterable[str], forecaster: Forecaster,
             warnings: Warnings, now: int, send: Callable[[list[Point]], None] | None = None,
             db: InfluxSink | None = None) -> PassResult:
    """Forecast every station from the hour ending `now` (epoch s, floored to the hour)."""
    now -= now % 3600
    db = db or sink(env)
    result = PassResult()
    params = tuple(forecaster.settings.params) + WEATHER
    for st in stations:
        try:
            means = history.hourly(env, st, params, now, forecaster.settings.history_days)
            fc = forecaster.forecast(st, means, now)
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
         stop: threading.Event, send: Callable[[list[Point]], None] | None = None) -> None:
    """Every hour at RUN_AT_MINUTE, a pass; until `stop` is set."""
    while not stop.is_set():
        now = int(time.time())
        run_pass(env, stations, forecaster, warnings, now, send)
        nxt = now - now % 3600 + 3600 + RUN_AT_MINUTE * 60
        stop.wait(max(1.0, nxt - time.time()))
