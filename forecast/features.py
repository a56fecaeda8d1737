"""Features of an (origin, horizon) pair, computed for a whole series at once.

Everything here looks only at hours at or before the origin (the target's calendar is known
in advance); tests/forecast/test_features.py holds that by changing the future and checking
nothing moves.
"""

from __future__ import annotations

import numpy as np

from forecast.series import LOCAL_OFFSET_H

HORIZONS = 72
MEANS = (3, 6, 12, 24, 72, 168)
LAGS = (1, 2, 3, 6, 12, 24)
PROFILE_DAYS = 7


def rolling_mean(y: np.ndarray, k: int) -> np.ndarray:
    """Mean of the present values in the k hours ending at each hour (NaN when none)."""
    present = ~np.isnan(y)
    s = np.concatenate([[0.0], np.cumsum(np.where(present, y, 0.0))])
    n = np.concatenate([[0], np.cumsum(present)])
    idx = np.arange(len(y))
    lo = np.maximum(idx + 1 - k, 0)
    cnt = n[idx + 1] - n[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (s[idx + 1] - s[lo]) / np.maximum(cnt, 1), np.nan)


def _window(y: np.ndarray, k: int) -> np.ndarray:
    pad = np.concatenate([np.full(k - 1, np.nan), y])
    return np.lib.stride_tricks.sliding_window_view(pad, k)


def _nan_reduce(win: np.ndarray, fn) -> np.ndarray:
    out = np.full(win.shape[0], np.nan)
    ok = ~np.all(np.isnan(win), axis=1)
    out[ok] = fn(win[ok], axis=1)
    return out


def shift(y: np.ndarray, k: int) -> np.ndarray:
    """y[i - k] at i (NaN before the start)."""
    out = np.full(len(y), np.nan)
    out[k:] = y[:len(y) - k]
    return out


def same_hour_profile(y: np.ndarray, days: int = PROFILE_DAYS) -> np.ndarray:
    """Mean of the present values at the same clock hour on the `days` days ending at i."""
    stack = np.stack([shift(y, 24 * d) for d in range(days)])
    cnt = np.sum(~np.isnan(stack), axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, np.nansum(stack, axis=0) / np.maximum(cnt, 1), np.nan)


def seasonal_index(origin: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The hour with the target's clock hour on the latest day at or before the origin."""
    return origin + h - 24 * ((h + 23) // 24)


class Table:
    """Per-hour features of one series, ready to gather for any (origin, horizon) pairs."""

    def __init__(self, y: np.ndarray, hour0: int, exog: dict[str, np.ndarray] | None = None,
                 feed: dict[str, np.ndarray] | None = None):
        """`feed`: an external forecast's values on the same grid, reaching past the end by
        the horizons (forecast.feed.on_grid); each becomes a per-pair feature `feed_<name>`,
        its value at the pair's target hour (a forecast of that hour, known at the origin)."""
        self.y = np.asarray(y, dtype=np.float64)
        self.hour0 = hour0
        self.exog = {k: np.asarray(v, dtype=np.float64) for k, v in (exog or {}).items()}
        self.feed = {k: np.asarray(v, dtype=np.float64) for k, v in (feed or {}).items()}
        y = self.y
        cols = {"v0": y}
        for k in LAGS:
            cols[f"lag{k}"] = shift(y, k)
        for k in MEANS:
            cols[f"mean{k}"] = rolling_mean(y, k)
        w24 = _window(y, 24)
        cols["std24"] = _nan_reduce(w24, np.nanstd)
        cols["max24"] = _nan_reduce(w24, np.nanmax)
        cols["min24"] = _nan_reduce(w24, np.nanmin)
        cols["n24"] = np.sum(~np.isnan(w24), axis=1).astype(float)
        # the station's own weather at the origin: what it measured, never a forecast of it
        for name, x in self.exog.items():
            cols[f"obs_{name}"] = x
            cols[f"obs_{name}_d24"] = x - shift(x, 24)
        self.origin_names = list(cols)
        self.origin = np.stack([cols[n] for n in self.origin_names], axis=1)
        self.profile = same_hour_profile(y)

    def names(self, feed: list[str] | None = None) -> list[str]:
        return (self.origin_names
                + ["h", "hod_o", "hod_t", "dow_t", "sn1", "sn2", "prof7"]
                + [f"feed_{n}" for n in [*self.feed, *(feed or [])]])

    def pairs(self, origin: np.ndarray, h: np.ndarray,
              feed: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """Feature rows (float32) for origin indices and horizons of equal length.

        `feed` holds an external forecast's value for each pair's target hour (NaN = none).
        """
        origin = np.asarray(origin, dtype=np.int64)
        h = np.asarray(h, dtype=np.int64)
        target = origin + h
        abs_o = self.hour0 + origin + LOCAL_OFFSET_H
        abs_t = self.hour0 + target + LOCAL_OFFSET_H
        s1 = seasonal_index(origin, h)
        s2 = s1 - 24
        extra = [
            h.astype(float), (abs_o % 24).astype(float), (abs_t % 24).astype(float),
            ((abs_t // 24 + 3) % 7).astype(float),  # 1970-01-01 was a Thursday: Monday = 0
            self._at(self.y, s1), self._at(self.y, s2), self._at(self.profile, s1),
        ]
        extra += [self._at(v, target) for v in self.feed.values()]
        extra += [np.asarray(v, dtype=float) for v in (feed or {}).values()]
        return np.concatenate([self.origin[origin], np.stack(extra, axis=1)],
                              axis=1).astype(np.float32)

    @staticmethod
    def _at(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
        ok = (idx >= 0) & (idx < len(a))
        out = np.full(len(idx), np.nan)
        out[ok] = a[idx[ok]]
        return out
