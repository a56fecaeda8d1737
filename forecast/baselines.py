"""The three baselines the backtest scores a model against (issue 20).

persistence: the origin's value. seasonal naive: the value at the target's clock hour on the
latest day at or before the origin. linear: ridge regression on log1p values, one fit per
horizon, refitted by the caller on everything before.
"""

from __future__ import annotations

import numpy as np

from forecast.features import Table, rolling_mean, seasonal_index
from forecast.series import LOCAL_OFFSET_H

RIDGE_ALPHA = 1.0
YEAR_H = 365.2425 * 24


def persistence(table: Table, origin: np.ndarray, h: np.ndarray) -> np.ndarray:
    return table.y[np.asarray(origin)]


def seasonal(table: Table, origin: np.ndarray, h: np.ndarray) -> np.ndarray:
    s = seasonal_index(np.asarray(origin), np.asarray(h))
    out = table.y[np.clip(s, 0, len(table.y) - 1)]
    return np.where(s >= 0, out, np.nan)


class Linear:
    """Ridge on log1p: the origin's value, its last 6/24/72 h means, the seasonal-naive value,
    hour-of-day harmonics of origin and target and day-of-year harmonics; one fit per horizon."""

    def __init__(self, table: Table, horizons: int):
        self.table = table
        self.horizons = horizons
        y = table.y
        self._means = [rolling_mean(y, k) for k in (6, 24, 72)]
        self.coef: dict[int, np.ndarray] = {}

    def _x(self, origin: np.ndarray, h: int) -> np.ndarray:
        t = self.table
        v0 = np.log1p(t.y[origin])
        cols = [v0]
        for m in self._means:
            cols.append(np.log1p(np.where(np.isnan(m[origin]), t.y[origin], m[origin])))
        sn = seasonal(t, origin, np.full(len(origin), h))
        cols.append(np.where(np.isnan(sn), v0, np.log1p(sn)))
        for hour in (t.hour0 + origin + LOCAL_OFFSET_H, t.hour0 + origin + h + LOCAL_OFFSET_H):
            a = 2 * np.pi * (hour % 24) / 24
            cols += [np.sin(a), np.cos(a), np.sin(2 * a), np.cos(2 * a)]
        d = 2 * np.pi * ((t.hour0 + origin + h) % YEAR_H) / YEAR_H
        cols += [np.sin(d), np.cos(d), np.ones(len(origin))]
        return np.stack(cols, axis=1)

    def fit(self, cutoff: int) -> None:
        """Fit every horizon on the pairs whose target is at or before `cutoff`."""
        y = self.table.y
        origins = np.flatnonzero(~np.isnan(y[:cutoff + 1]))
        for h in range(1, self.horizons + 1):
            o = origins[origins + h <= cutoff]
            o = o[~np.isnan(y[o + h])]
            if len(o) < 50:
                continue
            x = self._x(o, h)
            target = np.log1p(y[o + h])
            reg = RIDGE_ALPHA * np.eye(x.shape[1])
            reg[-1, -1] = 0.0  # the intercept is not shrunk
            self.coef[h] = np.linalg.solve(x.T @ x + reg, x.T @ target)

    def predict(self, origin: np.ndarray, h: np.ndarray) -> np.ndarray:
        origin, h = np.asarray(origin), np.asarray(h)
        out = np.full(len(origin), np.nan)
        for hh in np.unique(h):
            sel = h == hh
            if int(hh) in self.coef:
                out[sel] = np.expm1(self._x(origin[sel], int(hh)) @ self.coef[int(hh)])
        return np.where(np.isnan(out), self.table.y[origin], out)
