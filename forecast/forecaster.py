"""The hourly forecaster: per air station and parameter, 1…72 h ahead with a 10th–90th
percentile interval, from the station's own hourly means, its calendar, its own temperature,
humidity and pressure, and (where configured) an external forecast feed; then VN_AQI hourly
(NowCast for PM) and daily from the forecast concentrations, and `forecast` points.

Retraining is scheduled (every `retrain_every_h`) and bounded (the model's row cap and
history window); a station with too little history, or whose model loses to persistence on
its own recent data, forecasts by persistence and says so in `model` and `note`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from collector.contracts import Point
from collector.domain import aqi as vn_aqi
from forecast import model as gbm
from forecast.features import Table
from forecast.feed import on_grid
from forecast.series import LOCAL_OFFSET_H, Series

PARAMS = ("pm2_5", "pm10")
WEATHER = ("temp", "rh", "pressure")


@dataclass(frozen=True)
class ForecasterSettings:
    params: tuple[str, ...] = PARAMS
    history_days: int = 400  # what one training reads from the database
    retrain_every_h: int = 30 * 24  # the backtest retrains on the same schedule
    model: gbm.ModelSettings = field(default_factory=gbm.ModelSettings)


@dataclass
class ParamForecast:
    param: str
    issued: int  # epoch s, the origin hour (the END of the last hour with a mean)
    values: np.ndarray  # (horizons, 3): central, 10th, 90th percentile
    model: str  # gbm | persistence | none
    note: str = ""


@dataclass
class StationForecast:
    station: str
    issued: int
    params: dict[str, ParamForecast] = field(default_factory=dict)
    # (time, central, low, high hourly VN_AQI)
    aqi_hourly: list[tuple[int, int | None, int | None, int | None]] = field(
        default_factory=list)
    # (day end epoch s, central, low, high daily VN_AQI)
    aqi_daily: list[tuple[int, int | None, int | None, int | None]] = field(default_factory=list)
    measured: dict[str, Series] = field(default_factory=dict)


class Forecaster:
    """Keeps each (station, param)'s fit between hours; `forecast()` retrains when due."""

    def __init__(self, settings: ForecasterSettings = ForecasterSettings()) -> None:
        self.settings = settings
        self._fits: dict[tuple[str, str], tuple[int, gbm.Fit]] = {}
        # the feed variables each fit was trained with: another set is another model
        self._feed_names: dict[tuple[str, str], tuple[str, ...]] = {}

    def forecast_param(self, station: str, param: str, series: Series,
                       weather: dict[str, Series], now: int,
                       feed: dict[str, dict[int, float]] | None = None) -> ParamForecast:
        """`feed`: {variable: {epoch s of the hour's end: value}} of an external forecast
        (forecast.feed); a variable without values (the feed failed) stays a feature, all
        missing, so that the station's model is not retrained for an outage."""
        s = self.settings
        n_h = s.model.horizons
        origin = len(series) - 1
        if origin < 0 or np.isnan(series.values[origin]):
            return ParamForecast(param, now, np.full((n_h, 3), np.nan), "none",
                                 f"no {param} mean for the hour ending "
                                 f"{datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M}Z")
        exog = {k: w.values for k, w in weather.items() if len(w) == len(series)}
        grid = {k: on_grid(v, series.hour0, len(series) + n_h) for k, v in (feed or {}).items()}
        table = Table(series.values, series.hour0, exog, grid)
        key = (station, param)
        last = self._fits.get(key)
        if last is None or now - last[0] >= s.retrain_every_h * 3600 \
                or self._feed_names.get(key) != tuple(grid):
            fit = gbm.fit(table, origin, s.model, previous=last[1] if last else None)
            self._fits[key] = (now, fit)
            self._feed_names[key] = tuple(grid)
        fit = self._fits[key][1]
        out, _ = gbm.predict(fit, table, np.full(n_h, origin), np.arange(1, n_h + 1))
        note = fit.reason
        if grid:
            ahead = ", ".join(f"{k} {int(np.sum(~np.isnan(g[origin + 1:])))}/{n_h} h"
                              for k, g in grid.items())
            note = "; ".join(x for x in (note, f"external feed ahead: {ahead}") if x)
        return ParamForecast(param, now, out, fit.model, note)

    def forecast(self, station: str, means: dict[str, Series], now: int,
                 feed: dict[str, dict[int, float]] | None = None) -> StationForecast:
        """`means`: {param: hourly Series ending at the hour `now` (epoch s)}; `feed`: an
        external forecast's hourly values, a feature of every param's model."""
        weather = {w: means[w] for w in WEATHER if w in means}
        fc = StationForecast(station, now, measured=means)
        for p in self.settings.params:
            if p in means:
                fc.params[p] = self.forecast_param(station, p, means[p], weather, now, feed)
        fc.aqi_hourly, fc.aqi_daily = aqi_of(fc, self.settings.model.horizons)
        return fc


def _joined(measured: Series, values: np.ndarray) -> list[float | None]:
    hours = np.concatenate([measured.values, values])
    return [None if np.isnan(v) else float(v) for v in hours]


def aqi_of(fc: StationForecast, horizons: int
           ) -> tuple[list[tuple[int, int | None, int | None, int | None]],
                      list[tuple[int, int | None, int | None, int | None]]]:
    """Hourly VN_AQI (PM by NowCast) over measured-then-forecast hours, and the daily VN_AQI
    of each local day the forecast reaches (hours ending 01:00 … 00:00), measured hours first.
    The low and high values (hourly and daily) come from the 10th and 90th percentile hours:
    a band, not a percentile of the index."""
    pm = {p: f for p, f in fc.params.items() if f.model != "none"}
    if not pm:
        return [], []
    past = {p: fc.measured[p] for p in pm}
    n_past = min(len(s) for s in past.values())
    series = {k: {p: _joined(past[p], pm[p].values[:, k])[-(n_past + horizons):]
                  for p in pm} for k in range(3)}
    hourly = []
    for h in range(1, horizons + 1):
        end = n_past + h
        vals = [vn_aqi.hourly_aqi({p: v[:end] for p, v in series[k].items()}).aqi
                for k in range(3)]
        hourly.append((fc.issued + h * 3600, vals[0], vals[1], vals[2]))
    daily = []
    local_now = fc.issued + LOCAL_OFFSET_H * 3600
    day_end = local_now - local_now % 86400 + 86400 - LOCAL_OFFSET_H * 3600
    while day_end <= fc.issued + horizons * 3600:
        end = n_past + (day_end - fc.issued) // 3600
        vals = [vn_aqi.daily_aqi({p: v[:end] for p, v in series[k].items()}).aqi
                for k in range(3)]
        daily.append((day_end, vals[0], vals[1], vals[2]))
        day_end += 86400
    return hourly, daily


def points(fc: StationForecast) -> list[Point]:
    """`forecast` points (docs/influxdb-schema.md): one per param, horizon and target time."""
    out: list[Point] = []
    for p, f in fc.params.items():
        if f.model == "none":
            continue
        for h, (v, lo, hi) in enumerate(f.values, start=1):
            out.append(Point("forecast", {"station": fc.station, "param": p, "period": "1h",
                                          "horizon": str(h), "model": f.model},
                             {"value": round(float(v), 2), "lo": round(float(lo), 2),
                              "hi": round(float(hi), 2), "issued": fc.issued},
                             fc.issued + h * 3600))
    models = ",".join(sorted({f.model for f in fc.params.values() if f.model != "none"}))
    for period, rows in (("1h", fc.aqi_hourly), ("24h", fc.aqi_daily)):
        for t, a, lo, hi in rows:
            if a is None:
                continue
            fields: dict[str, float | int | bool | str] = {"value": float(a), "issued": fc.issued}
            if lo is not None and hi is not None:
                fields |= {"lo": float(lo), "hi": float(hi)}
            out.append(Point("forecast", {"station": fc.station, "param": "vn_aqi",
                                          "period": period,
                                          "horizon": str((t - fc.issued) // 3600),
                                          "model": models}, fields, t))
    return out
