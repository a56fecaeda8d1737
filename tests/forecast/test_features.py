"""The forecast's features see only hours at or before the origin."""

from __future__ import annotations

import numpy as np

from forecast.baselines import seasonal
from forecast.features import Table


def test_changing_the_future_changes_no_feature_of_a_pair():
    rng = np.random.default_rng(1)
    y = rng.gamma(2.0, 20.0, 24 * 30)
    y[rng.random(len(y)) < 0.1] = np.nan
    origin = np.full(72, 400)
    h = np.arange(1, 73)
    before = Table(y, 0).pairs(origin, h)
    y2 = y.copy()
    y2[401:] = 999.0
    after = Table(y2, 0).pairs(origin, h)
    np.testing.assert_array_equal(np.isnan(before), np.isnan(after))
    np.testing.assert_array_equal(np.nan_to_num(before), np.nan_to_num(after))


def test_seasonal_naive_is_the_same_clock_hour_on_the_latest_day_at_or_before_the_origin():
    y = np.arange(200, dtype=float)
    t = Table(y, 0)
    o = np.array([100, 100, 100, 100])
    h = np.array([1, 24, 25, 48])
    # +1 h: the hour 23 h before the origin; +24 h: the origin itself; +25 h: 23 h before;
    # +48 h: the origin
    assert list(seasonal(t, o, h)) == [77.0, 100.0, 77.0, 100.0]
