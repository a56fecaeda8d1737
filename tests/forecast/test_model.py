"""The station model's ridge stage and its per-block choices, judged before the cutoff only."""

from __future__ import annotations

from dataclasses import replace

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


def _hour_dependent(days: int, seed: int = 5) -> np.ndarray:
    """Night air that stays (local 00:00–11:00 follow the hour before) and day air that
    does not: how the next hours follow from the origin depends on its clock hour."""
    rng = np.random.default_rng(seed)
    z = np.zeros(24 * days)
    for i in range(1, len(z)):
        z[i] = 0.95 * z[i - 1] + 0.3 * rng.normal() if (i + 7) % 24 < 12 \
            else 0.8 * rng.normal()
    return 30 * np.exp(z)


def test_the_ridge_stage_fitted_per_origin_hour_follows_a_diurnal_change_of_persistence():
    y = _hour_dependent(200)
    t = Table(y, 0)
    cutoff = 24 * 150
    plain, stage = Linear(t, 6), gbm.ScaledLinear(t, 6)
    plain.fit(cutoff)
    stage.fit(cutoff)
    o = np.repeat(np.arange(cutoff, len(y) - 6), 6)
    h = np.tile(np.arange(1, 7), len(o) // 6)
    truth = y[o + h]
    # one set of coefficients for all hours (the rescaled one alone: 0.90 of the plain MSE)
    assert np.mean((stage.predict(o, h) - truth) ** 2) \
        < 0.85 * np.mean((plain.predict(o, h) - truth) ** 2)


def test_the_trees_share_comes_from_every_month_scored_so_far_not_the_last_alone():
    y = _skewed(100)
    t = Table(y, 0)
    first = gbm.fit(t, 24 * 60, SMALL)
    assert first.blend_sse is not None and (first.blend_sse[:3] > 0).all()
    # the share this month alone would pick, and one it would not
    alone = gbm.fit(t, 24 * 90, SMALL, previous=replace(first, blend_sse=None))
    picked = gbm.BLEND_WEIGHTS.index(alone.tree_weight[1])
    other = (picked + 2) % len(gbm.BLEND_WEIGHTS)
    # earlier months where the other share did far better outweigh this month
    earlier = np.full_like(first.blend_sse, 1e12)
    earlier[:, other] = 0.0
    second = gbm.fit(t, 24 * 90, SMALL, previous=replace(first, blend_sse=earlier))
    assert second.tree_weight[1] == gbm.BLEND_WEIGHTS[other] != alone.tree_weight[1]
    # this month's errors are added to the earlier ones
    np.testing.assert_allclose(second.blend_sse[:3] - earlier[:3], alone.blend_sse[:3])


def test_a_model_clearly_worse_than_persistence_on_the_recent_days_falls_back():
    # 60 days where the next hours do not follow from now (the model learns the mean), then
    # 10 days of air that stays: persistence is far better on them at every horizon
    rng = np.random.default_rng(11)
    y = 40 * rng.lognormal(0.0, 0.6, 24 * 70)
    y[24 * 60:] = 150 + np.cumsum(rng.normal(0, 1.0, 24 * 10))
    cutoff = len(y) - 1
    t = Table(y, 0)
    f = gbm.fit(t, cutoff, SMALL)
    assert not f.use_model[1:].any()
    assert f.model == gbm.PERSISTENCE
    assert "worse than persistence" in f.reason and "1–6 h" in f.reason
    out, by_model = gbm.predict(f, t, np.repeat(cutoff, 6), np.arange(1, 7))
    assert not by_model.any()
    np.testing.assert_array_equal(out[:, 0], np.repeat(y[cutoff], 6))


def test_a_loss_to_persistence_within_chance_is_no_reason_to_fall_back():
    days = np.repeat(np.arange(30), 24)
    # a month where the model lost in sum (the old rule's reason to fall back) on a few
    # days of large errors, and won on most: not beyond chance
    noisy = np.where(days % 10 == 0, 100.0, -3.0)
    assert noisy.sum() > 0
    assert not gbm._clearly_worse(noisy, days)
    # a loss day after day of the same sum is
    assert gbm._clearly_worse(np.full(len(days), noisy.sum() / len(days)) + 0.1 * np.sin(days),
                              days)


def test_the_ridge_stage_is_recalibrated_on_its_own_recent_errors_out_of_sample():
    # the spread narrows after 150 days: the back-transform's factor fitted on the whole
    # history (the mean of a wide lognormal over its median) overshoots the months after
    rng = np.random.default_rng(7)
    days = 260
    sigma = np.where(np.arange(24 * days) < 24 * 150, 0.9, 0.3)
    y = 40 * rng.lognormal(0.0, sigma)
    t = Table(y, 0)
    f = None
    for day in range(150, 241, 10):
        f = gbm.fit(t, 24 * day, SMALL, previous=f)
    stage = f.boosters["linear"]
    assert (stage.recal[1:] < 0.95).all()
    o = np.repeat(np.arange(24 * 240, len(y) - 6), 6)
    h = np.tile(np.arange(1, 7), len(o) // 6)
    truth = y[o + h]
    assert np.mean((stage.predict(o, h) - truth) ** 2) \
        < 0.9 * np.mean((stage.predict_fitted(o, h) - truth) ** 2)
    # the model's forecast carries it
    central = gbm.predict(f, t, o, h)[0][:, 0]
    assert abs(np.mean(central) / np.mean(truth) - 1) < 0.1
    # only the windows of the last RECAL_H hours count
    assert all(start >= 24 * 240 - gbm.RECAL_H for start, _ in f.recal_history)
    np.testing.assert_array_equal(
        gbm.recalibration(f.recal_history, 24 * 240 + gbm.RECAL_H + 24 * 30, 6), np.ones(7))
