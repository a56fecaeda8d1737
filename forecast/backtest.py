"""Rolling-origin backtest (issue 20): train on the first days, forecast from an origin every
few hours through the rest at horizons 1…72, retraining on the forecaster's schedule, and
score the model against persistence, the seasonal naive and the linear baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from collector.domain import aqi as vn_aqi
from forecast import model as gbm
from forecast.baselines import Linear, persistence, seasonal
from forecast.features import Table
from forecast.series import LOCAL_OFFSET_H, Series

WARNING_HOUR_LOCAL = 12
WARNING_THRESHOLDS = (100, 150)  # daily VN_AQI strictly above: the sensitive and the general
LINEAR_REFIT_H = 30 * 24


@dataclass(frozen=True)
class BacktestSettings:
    train_days: int = 365
    origins_every_h: int = 6
    retrain_every_h: int = 30 * 24  # the forecaster's own schedule (forecast/README.md)
    model: gbm.ModelSettings = field(default_factory=gbm.ModelSettings)


class BacktestError(ValueError):
    """The series is too short or too sparse to backtest; the message says what it has."""


def _origins(t: Table, start: int, every: int, horizons: int) -> np.ndarray:
    o = np.arange(start, len(t.y) - 1, every)
    return o[~np.isnan(t.y[o])]


def _warning_origins(t: Table, start: int) -> np.ndarray:
    first = start + (WARNING_HOUR_LOCAL - (t.hour0 + start + LOCAL_OFFSET_H)) % 24
    o = np.arange(first, len(t.y) - 1, 24)
    return o[~np.isnan(t.y[o])]


def _skill(mse_model: float, mse_base: float) -> float | None:
    return None if mse_base == 0 else round(1.0 - mse_model / mse_base, 4)


def run(series: Series, s: BacktestSettings = BacktestSettings(),
        progress: Callable[[str], None] | None = None) -> dict:
    table = Table(series.values, series.hour0)
    n_h = s.model.horizons
    start = s.train_days * 24
    if len(table.y) <= start + n_h:
        raise BacktestError(f"{len(table.y)} hours from {series.start:%Y-%m-%d %H:%M}Z: the "
                            f"backtest needs more than {s.train_days} days of training plus "
                            f"{n_h} h to score")
    if np.sum(~np.isnan(table.y[:start])) < s.model.min_history_h:
        raise BacktestError(f"the first {s.train_days} days hold "
                            f"{int(np.sum(~np.isnan(table.y[:start])))} hours with a value; "
                            f"a model needs {s.model.min_history_h}")
    scored = _origins(table, start, s.origins_every_h, n_h)
    warn = _warning_origins(table, start)
    all_o = np.union1d(scored, warn)
    linear = Linear(table, n_h)
    rows: list[np.ndarray] = []
    fit: gbm.Fit | None = None
    fits = []
    lin_cut = -1
    for block in range(start, len(table.y), s.retrain_every_h):
        o = all_o[(all_o >= block) & (all_o < block + s.retrain_every_h)]
        fit = gbm.fit(table, block, s.model, previous=fit)
        fits.append({"cutoff": series.time(block).strftime("%Y-%m-%dT%H:%MZ"),
                     "rows": fit.rows, "model": fit.model, "note": fit.reason})
        if progress:
            progress(f"trained to {fits[-1]['cutoff']} on {fit.rows} pairs "
                     f"({fit.model}{': ' + fit.reason if fit.reason else ''})")
        if len(o) == 0:
            continue
        oo = np.repeat(o, n_h)
        hh = np.tile(np.arange(1, n_h + 1), len(o))
        keep = oo + hh < len(table.y)
        oo, hh = oo[keep], hh[keep]
        out, _ = gbm.predict(fit, table, oo, hh)
        lin = np.full(len(oo), np.nan)
        for cut in range(block, block + s.retrain_every_h, LINEAR_REFIT_H):
            if cut > lin_cut:
                linear.fit(cut)
                lin_cut = cut
            sel = (oo >= cut) & (oo < cut + LINEAR_REFIT_H)
            lin[sel] = linear.predict(oo[sel], hh[sel])
        rows.append(np.stack([oo, hh, table.y[oo + hh], out[:, 0], out[:, 1], out[:, 2],
                              persistence(table, oo, hh), seasonal(table, oo, hh), lin], axis=1))
    data = np.concatenate(rows)
    result = {
        "series": {"start": series.time(0).strftime("%Y-%m-%dT%H:%MZ"),
                   "end": series.time(len(table.y) - 1).strftime("%Y-%m-%dT%H:%MZ"),
                   "hours": len(table.y), "with_value": int(np.sum(~np.isnan(table.y)))},
        "settings": {"train_days": s.train_days, "origins_every_h": s.origins_every_h,
                     "retrain_every_h": s.retrain_every_h, "origins": int(len(scored))},
        "horizons": _horizons(data[np.isin(data[:, 0], scored)], n_h),
        "warnings": _warnings(table, data[np.isin(data[:, 0], warn)]),
        "fits": fits,
    }
    return result


def _skill_vs(err: dict[str, np.ndarray], base: str) -> float | None:
    """A baseline without a value (the seasonal naive's hour missing) is scored where it has
    one, against the model on the same pairs."""
    ok = ~np.isnan(err[base])
    if not ok.any():
        return None
    return _skill(float(np.mean(err["model"][ok] ** 2)), float(np.mean(err[base][ok] ** 2)))


def _horizons(d: np.ndarray, n_h: int) -> list[dict]:
    out = []
    d = d[~np.isnan(d[:, 2])]
    for h in range(1, n_h + 1):
        x = d[d[:, 1] == h]
        truth = x[:, 2]
        err = {k: x[:, c] - truth for k, c in
               (("model", 3), ("persistence", 6), ("seasonal", 7), ("linear", 8))}
        inside = (truth >= x[:, 4]) & (truth <= x[:, 5])
        out.append({
            "h": h, "n": int(len(x)),
            "mae": round(float(np.mean(np.abs(err["model"]))), 3) if len(x) else None,
            "rmse": round(float(np.sqrt(np.mean(err["model"] ** 2))), 3) if len(x) else None,
            "skill_vs_persistence": _skill_vs(err, "persistence"),
            "skill_vs_seasonal": _skill_vs(err, "seasonal"),
            "skill_vs_linear": _skill_vs(err, "linear"),
            "interval_coverage": round(float(inside.mean()), 3) if len(x) else None,
        })
    return out


def _day_aqi(hours: list[float | None]) -> int | None:
    return vn_aqi.daily_aqi({"pm2_5": hours}).aqi


def _warnings(table: Table, d: np.ndarray) -> dict:
    """From each 12:00-local forecast, the next local day (hours ending 01:00 … 00:00, i.e.
    horizons 13…36) as forecast and as measured: hits, misses and false alarms per threshold."""
    first_h = 24 - WARNING_HOUR_LOCAL + 1
    counts = {t: {"hits": 0, "misses": 0, "false_alarms": 0} for t in WARNING_THRESHOLDS}
    days = 0
    for o in np.unique(d[:, 0]):
        x = d[d[:, 0] == o]
        x = x[(x[:, 1] >= first_h) & (x[:, 1] < first_h + 24)]
        if len(x) < 24:
            continue
        x = x[np.argsort(x[:, 1])]
        measured = _day_aqi([None if np.isnan(v) else float(v) for v in x[:, 2]])
        if measured is None:
            continue  # too few measured hours that day: nothing to score against
        forecast = _day_aqi([float(v) for v in x[:, 3]])
        days += 1
        for t in WARNING_THRESHOLDS:
            f, m = forecast is not None and forecast > t, measured > t
            c = counts[t]
            c["hits"] += f and m
            c["misses"] += (not f) and m
            c["false_alarms"] += f and not m
    out = {"days": days}
    for t, c in counts.items():
        h, m, fa = c["hits"], c["misses"], c["false_alarms"]
        out[f"aqi_gt_{t}"] = {**c,
                              "pod": round(h / (h + m), 3) if h + m else None,
                              "far": round(fa / (h + fa), 3) if h + fa else None,
                              "csi": round(h / (h + m + fa), 3) if h + m + fa else None}
    return out
