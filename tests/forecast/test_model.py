"""The station model's ridge stage and its per-block choices, judged before the cutoff only."""

from __future__ import annotations

import numpy as np

from forecast import model as gbm
from forecast.baselines import Linear
from forecast.features import Table

SMALL = gbm.ModelSettings(horizons=6, min_history_h=24 * 20, validate_h=24 * 10, trees=20,
                          quantile_trees=5, min_child_samples=50, max_rows=5000)


def _skewed(days: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = np.arange(24 * days)
    level = 40 + 20 * np.sin(2 * np.pi * hours / 24)
    y = level * rng.lognormal(0.0, 0.8, len(hours))
    y[rng.random(len(y)) < 0.05] = np.nan
    return y


def test_the_scaled_ridge_forecasts_a_skewed_series_with_a_smaller_squared_error():
    # expm1 of a log-space fit is a median: below the mean on a skewed series
    y = _skewed(200)
    t = Table(y, 0)
    cutoff = 24 * 150
    plain, scaled = Linear(t, 6), gbm.ScaledLinear(t, 6)
    plain.fit(cutoff)
    scaled.fit(cutoff)
    o = cutoff + np.flatnonzero(~np.isnan(y[cutoff:-6]))
    o = np.repeat(o, 6)
    h = np.tile(np.arange(1, 7), len(o) // 6)
    ok = ~np.isnan(y[o + h])
    o, h, truth = o[ok], h[ok], y[o[ok] + h[ok]]
    mse_plain = np.mean((plain.predict(o, h) - truth) ** 2)
    mse_scaled = np.mean((scaled.predict(o, h) - truth) ** 2)
    assert mse_scaled < 0.97 * mse_plain
    assert abs(np.mean(scaled.predict(o, h)) / np.mean(truth) - 1) < 0.1


def test_the_trees_weight_and_the_fallback_depend_on_nothing_after_the_cutoff():
    y = _skewed(70)
    cutoff = 24 * 60
    y2 = y.copy()
    y2[cutoff + 1:] = 999.0
    a = gbm.fit(Table(y, 0), cutoff, SMALL)
    b = gbm.fit(Table(y2, 0), cutoff, SMALL)
    np.testing.assert_array_equal(a.tree_weight, b.tree_weight)
    np.testing.assert_array_equal(a.use_model, b.use_model)
    o = np.repeat(cutoff, 6)
    h = np.arange(1, 7)
    np.testing.assert_allclose(gbm.predict(a, Table(y, 0), o, h)[0],
                               gbm.predict(b, Table(y2, 0), o, h)[0])
    assert set(np.unique(a.tree_weight)) <= set(gbm.BLEND_WEIGHTS)
