"""The station model: a ridge stage (the linear baseline's inputs, fitted per origin clock
hour), then gradient-boosted trees (LightGBM) per block of horizons for what it leaves
(central value) and the 10th and 90th percentiles, trained on a bounded sample of (origin,
horizon) pairs; per block, the share of the trees' correction that did best on every month
scored out of sample so far, and persistence where even that lost to it beyond chance on the
recent data; the whole recalibrated per horizon on its own errors out of sample in the last
180 days.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import lightgbm as lgb
import numpy as np

from forecast.baselines import Linear
from forecast.features import HORIZONS, Table
from forecast.series import LOCAL_OFFSET_H

PERSISTENCE = "persistence"
GBM = "gbm"
# one set of trees per block of horizons: in one model for all 72, the long horizons' large
# changes swamped the leaves that +1 h falls in (skill -0.9 against persistence at +1 h)
MIN_JUDGED = 48  # recent pairs per horizon the persistence check needs (2 days of origins)
BLOCKS = ((1, 1), (2, 3), (4, 6), (7, 12), (13, 24), (25, 48), (49, 72))
# the ridge stage per origin hour: the origins within ±2 h of it (5 clock hours), more
# shrinkage than the baseline's single fit since each holds a fifth of the rows
HOUR_WINDOW = 2
HOUR_ALPHA = 20.0
MIN_HOUR_ROWS = 200
# the ridge stage's recalibration: the least-squares factor of its own forecasts scored out
# of sample over this many recent hours of fits, kept within RECAL_BOUNDS
RECAL_H = 180 * 24
RECAL_BOUNDS = (0.5, 1.5)
# persistence replaces a block only on a clear loss: the model's daily excess of squared
# error over persistence's, a paired t statistic above this (one month: 30 days)
FALLBACK_T = 2.0


@dataclass(frozen=True)
class ModelSettings:
    horizons: int = HORIZONS
    min_history_h: int = 60 * 24  # less than this many hours with a value: persistence
    max_rows: int = 40_000  # the training sample's cap per horizon block: bounds time, memory
    window_h: int = 3 * 365 * 24  # train on at most this much of the latest history
    validate_h: int = 30 * 24  # recent history the model must beat persistence on
    trees: int = 150
    quantile_trees: int = 60
    # small, slow trees with large leaves: the pairs of one origin share most of their
    # features, so the data hold far fewer independent cases than rows (larger trees learned
    # the training year's episodes by date and lost to the ridge stage at a day and beyond)
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_child_samples: int = 1000
    # one thread: on a shared machine OpenMP threads waiting for a busy core cost more than
    # they give (50 trees took 16 s on two threads, 1.8 s on one, with the cores loaded)
    threads: int = 1
    max_bin: int = 63
    seed: int = 0
    quantiles: tuple[float, float] = (0.1, 0.9)


class ScaledLinear(Linear):
    """The linear baseline's ridge, fitted apart for each local clock hour of the origin (on
    the origins within ±`HOUR_WINDOW` hours of it) and its back-transform rescaled per
    horizon.

    Per origin hour: the diurnal cycle changes how the hours ahead follow from the origin's
    (an origin at 14:00 before the evening build-up, one at 02:00 before the morning's), which
    one set of coefficients with additive hour harmonics cannot say; on the Hanoi file the
    +24 h skill against persistence rose from 0.288 to 0.298 (docs/performance.md). Rescaled:
    expm1 of a log-space fit is a median, below the mean a squared error wants on a skewed
    series; one least-squares factor per horizon on the training pairs corrects that bias. An
    hour with too few training origins keeps the fit of all hours."""

    def __init__(self, table: Table, horizons: int):
        super().__init__(table, horizons)
        self.scale = np.ones(horizons + 1)
        # set by the caller from out-of-sample errors (`recalibration`): 1 = none
        self.recal = np.ones(horizons + 1)
        self.by_hour: dict[int, np.ndarray] = {}  # h -> (24, n_features) coefficients

    def _hour(self, origin: np.ndarray) -> np.ndarray:
        return (self.table.hour0 + origin + LOCAL_OFFSET_H) % 24

    def fit(self, cutoff: int) -> None:
        super().fit(cutoff)
        y = self.table.y
        origins = np.flatnonzero(~np.isnan(y[:cutoff + 1]))
        for h, coef in self.coef.items():
            o = origins[origins + h <= cutoff]
            o = o[~np.isnan(y[o + h])]
            x = self._x(o, h)
            target = np.log1p(y[o + h])
            hour = self._hour(o)
            reg = HOUR_ALPHA * np.eye(x.shape[1])
            reg[-1, -1] = 0.0
            per = np.tile(coef, (24, 1))
            for hr in range(24):
                near = (hour - hr + HOUR_WINDOW) % 24 <= 2 * HOUR_WINDOW
                if near.sum() >= MIN_HOUR_ROWS:
                    xs = x[near]
                    per[hr] = np.linalg.solve(xs.T @ xs + reg, xs.T @ target[near])
            self.by_hour[h] = per
            p = np.expm1(np.einsum("ij,ij->i", x, per[hour]))
            pp = float(np.sum(p * p))
            if pp > 0:
                self.scale[h] = float(np.sum(p * y[o + h])) / pp

    def predict(self, origin: np.ndarray, h: np.ndarray) -> np.ndarray:
        return self.predict_fitted(origin, h) * self.recal[np.asarray(h)]

    def predict_fitted(self, origin: np.ndarray, h: np.ndarray) -> np.ndarray:
        """The forecast before the out-of-sample recalibration (persistence where a horizon
        has no fit, which the recalibration also leaves alone)."""
        origin, h = np.asarray(origin), np.asarray(h)
        out = self.table.y[origin].astype(float)
        for hh in np.unique(h):
            per = self.by_hour.get(int(hh))
            if per is None:
                continue
            sel = h == hh
            o = origin[sel]
            x = self._x(o, int(hh))
            out[sel] = np.expm1(np.einsum("ij,ij->i", x, per[self._hour(o)])) * self.scale[hh]
        return out


def recalibration(history: list[tuple[int, np.ndarray]], cutoff: int, horizons: int
                  ) -> np.ndarray:
    """Per horizon, the factor that best scales the ridge stage's forecasts onto the truth
    over the windows scored out of sample in the last `RECAL_H` hours. `history` holds, per
    window, its start and the sums of p·y and p² per horizon (shape (2, horizons + 1)).

    Why: the in-sample scale corrects the log fit's median to a mean on the whole training
    history; on the Hanoi file the level fell from year to year and the scale fitted on
    everything overshot the next months (factors 0.86–0.98 from +1 to +72 h); on the six
    latest months it took +24 h skill vs persistence from 0.298 to 0.303 and +72 h from
    0.432 to 0.446 in ridge-only runs (docs/performance.md)."""
    sums = np.zeros((2, horizons + 1))
    for start, s in history:
        if start >= cutoff - RECAL_H:
            sums += s[:, :horizons + 1]
    out = np.ones(horizons + 1)
    ok = sums[1] > 0
    out[ok] = np.clip(sums[0, ok] / sums[1, ok], *RECAL_BOUNDS)
    return out


BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class Fit:
    """What one training produced, and why a horizon uses persistence."""
    cutoff: int
    rows: int = 0
    use_model: np.ndarray = field(default_factory=lambda: np.zeros(HORIZONS + 1, bool))
    # the trees' share of the central value per horizon (0 = the ridge stage alone), the
    # weight that did best on recent data before the cutoff
    tree_weight: np.ndarray = field(default_factory=lambda: np.ones(HORIZONS + 1))
    reason: str = ""
    boosters: dict = field(default_factory=dict)  # {"linear": Linear, (lo, hi): {name: Booster}}
    spread: np.ndarray | None = None  # persistence's interval: recent error quantiles per h
    # squared errors out of sample, summed over every fit so far: per block, per blend weight
    blend_sse: np.ndarray | None = None
    # per window scored out of sample: its start, and the ridge stage's sums of p·y and p²
    # per horizon (the recalibration's input)
    recal_history: list = field(default_factory=list)

    @property
    def model(self) -> str:
        return GBM if self.use_model[1:].any() else PERSISTENCE


def training_pairs(y: np.ndarray, cutoff: int, s: ModelSettings,
                   rng: np.random.Generator, lo: int = 0, first_h: int = 1
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A random sample (≤ max_rows) of pairs with origin and target present, both ≤ cutoff,
    at horizons first_h … s.horizons."""
    lo = max(lo, cutoff - s.window_h)
    origins = lo + np.flatnonzero(~np.isnan(y[lo:cutoff]))
    hs = np.arange(first_h, s.horizons + 1)
    t = origins[:, None] + hs[None, :]
    ok = t <= cutoff
    ok[ok] = ~np.isnan(y[t[ok]])
    oi, hi = np.nonzero(ok)
    if len(oi) > s.max_rows:
        pick = rng.choice(len(oi), s.max_rows, replace=False)
        oi, hi = oi[pick], hi[pick]
    return origins[oi], hs[hi]


def _params(s: ModelSettings, objective: str, **extra) -> dict:
    return {"objective": objective, "learning_rate": s.learning_rate,
            "num_leaves": s.num_leaves, "min_child_samples": s.min_child_samples,
            "num_threads": s.threads, "seed": s.seed, "deterministic": True,
            "force_col_wise": True, "verbose": -1, "feature_fraction": 0.8,
            "bagging_fraction": 0.8, "bagging_freq": 1, "max_bin": s.max_bin, **extra}


def _train(table: Table, cutoff: int, s: ModelSettings, lo: int = 0,
           recal: np.ndarray | None = None) -> tuple[dict, int]:
    """The ridge stage (the linear baseline's model) on everything up to `cutoff`, then per
    horizon block trees for the central value and the quantiles of what the ridge leaves."""
    linear = ScaledLinear(table, s.horizons)
    linear.fit(cutoff)
    if recal is not None:
        linear.recal = recal
    stage: dict = {"linear": linear}
    rows = 0
    for b_lo, b_hi in BLOCKS:
        if b_lo > s.horizons:
            break
        b_hi = min(b_hi, s.horizons)
        rng = np.random.default_rng(s.seed + cutoff + b_lo)
        o, h = training_pairs(table.y, cutoff, replace(s, horizons=b_hi), rng, lo,
                              first_h=b_lo)
        if len(o) < 2 * s.min_child_samples:  # too few to split once: the ridge alone
            continue
        # the trees correct the fitted stage, which is unbiased on the training pairs; the
        # recalibration scales the sum (`_predict`): on the stage it recalibrates, the trees
        # would learn to undo it
        anchor = linear.predict_fitted(o, h)
        x = _x(table, o, h, anchor)
        target = table.y[o + h] - anchor
        # binned once, shared by the three objectives
        data = lgb.Dataset(x, target, params={"max_bin": s.max_bin, "verbose": -1,
                                              "num_threads": s.threads})
        boosters = {"mid": lgb.train(_params(s, "l2"), data, num_boost_round=s.trees)}
        for q in s.quantiles:
            boosters[f"q{q:g}"] = lgb.train(_params(s, "quantile", alpha=q), data,
                                            num_boost_round=s.quantile_trees)
        stage[(b_lo, b_hi)] = boosters
        rows += len(o)
    return stage, rows


def _x(table: Table, origin: np.ndarray, h: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    return np.column_stack([table.pairs(origin, h), anchor.astype(np.float32)])


def _predict(stage: dict, table: Table, origin: np.ndarray, h: np.ndarray,
             tree_weight: np.ndarray | None = None) -> np.ndarray:
    anchor = stage["linear"].predict_fitted(origin, h)
    out = np.repeat(anchor[:, None], 3, axis=1)
    for key, boosters in stage.items():
        if key == "linear":
            continue
        sel = (h >= key[0]) & (h <= key[1])
        if sel.any():
            x = _x(table, origin[sel], h[sel], anchor[sel])
            out[sel] = anchor[sel, None] + np.stack(
                [b.predict(x, num_threads=1) for b in boosters.values()], axis=1)
    if tree_weight is not None:
        out[:, 0] = anchor + tree_weight[h] * (out[:, 0] - anchor)
    out = np.maximum(out * stage["linear"].recal[h][:, None], 0.0)
    # quantile models trained apart can cross; the interval always holds the central value
    out[:, 1] = np.minimum(out[:, 1], out[:, 0])
    out[:, 2] = np.maximum(out[:, 2], out[:, 0])
    return out


def _recent_pairs(y: np.ndarray, start: int, cutoff: int, horizons: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    origins = start + np.flatnonzero(~np.isnan(y[start:cutoff]))
    hs = np.arange(1, horizons + 1)
    o = np.repeat(origins, horizons)
    h = np.tile(hs, len(origins))
    ok = (o + h <= cutoff)
    o, h = o[ok], h[ok]
    ok = ~np.isnan(y[o + h])
    return o[ok], h[ok]


def fit(table: Table, cutoff: int, s: ModelSettings, previous: Fit | None = None) -> Fit:
    """Train on everything up to `cutoff` (an hour index) and decide, per block of horizons,
    the trees' share of the central value and whether persistence forecasts instead. Both are
    out of sample: the previous fit scored on the hours since it was trained (or, on a first
    fit, a fit that left out the recent hours); the share from those errors added to every
    earlier fit's (`Fit.blend_sse`), persistence from the recent hours alone."""
    y = table.y[:cutoff + 1]
    result = Fit(cutoff=cutoff)
    present = int(np.sum(~np.isnan(y)))
    if present < s.min_history_h:
        result.reason = (f"{present} hours with a value, fewer than the {s.min_history_h} "
                         "a model needs: persistence")
        return result
    if s.validate_h == 0:  # no check asked for: the model everywhere
        result.boosters, result.rows = _train(table, cutoff, s)
        result.use_model[:] = True
        return result
    if previous is not None and previous.boosters and previous.cutoff < cutoff:
        judge, start = previous.boosters, previous.cutoff
    else:
        start = cutoff - s.validate_h
        judge, _ = _train(table, start, s)
    o, h = _recent_pairs(table.y, start, cutoff, s.horizons)
    truth = table.y[o + h]
    pred = _predict(judge, table, o, h)
    ridge = judge["linear"].predict(o, h)
    err_p = (table.y[o] - truth) ** 2
    fitted = judge["linear"].predict_fitted(o, h)
    sums = np.zeros((2, s.horizons + 1))
    np.add.at(sums[0], h, fitted * truth)
    np.add.at(sums[1], h, fitted * fitted)
    # a window already scored (a refit at the same cutoff) is not counted twice
    recal_history = [e for e in (previous.recal_history if previous is not None else [])
                     if cutoff - RECAL_H <= e[0] < start] + [(start, sums)]
    day = (o - start) // 24
    use = np.ones(s.horizons + 1, bool)
    spread = previous.spread if previous is not None and previous.spread is not None \
        else np.zeros((s.horizons + 1, 2))
    spread = spread.copy()
    for hh in range(1, s.horizons + 1):
        sel = h == hh
        if sel.sum() >= MIN_JUDGED:
            spread[hh] = np.quantile(truth[sel] - table.y[o[sel]], s.quantiles)
    blend_sse = previous.blend_sse.copy() if previous is not None \
        and previous.blend_sse is not None else np.zeros((len(BLOCKS), len(BLEND_WEIGHTS)))
    # per block of horizons, as the trees are fitted: one horizon's month of errors is too
    # noisy to throw the model away on (a whole month of persistence at +48 h costs far more
    # than a close call gains); a block with too few recent pairs to judge (a station that
    # was down) keeps the model
    for i, (b_lo, b_hi) in enumerate(BLOCKS):
        if b_lo > s.horizons:
            break
        b_hi = min(b_hi, s.horizons)
        sel = (h >= b_lo) & (h <= b_hi)
        errs = np.array([np.sum((ridge[sel] + w * (pred[sel, 0] - ridge[sel]) - truth[sel])
                                ** 2) for w in BLEND_WEIGHTS])
        blend_sse[i] += errs
        # the share that did best over every month scored so far: one month's choice
        # followed that month's episodes and lost to the ridge alone a day and more ahead
        best = int(np.argmin(blend_sse[i]))
        result.tree_weight[b_lo:b_hi + 1] = BLEND_WEIGHTS[best]
        if sel.sum() >= MIN_JUDGED * (b_hi - b_lo + 1):
            err_m = (ridge[sel] + BLEND_WEIGHTS[best] * (pred[sel, 0] - ridge[sel])
                     - truth[sel]) ** 2
            use[b_lo:b_hi + 1] = not _clearly_worse(err_m - err_p[sel], day[sel])
    result.spread = spread
    result.blend_sse = blend_sse
    result.recal_history = recal_history
    result.boosters, result.rows = _train(
        table, cutoff, s, recal=recalibration(recal_history, cutoff, s.horizons))
    result.use_model = use
    worse = [hh for hh in range(1, s.horizons + 1) if not use[hh]]
    if worse:
        result.reason = (f"clearly worse than persistence on the last "
                         f"{(cutoff - start) // 24} days at {_ranges(worse)} h: persistence there")
    return result


def _clearly_worse(excess: np.ndarray, day: np.ndarray) -> bool:
    """Whether the model's squared errors exceed persistence's beyond chance: a paired t
    statistic on the daily sums of the excess (the pairs of one day share their weather, so
    the day is the independent case). A month's sum alone sent 25–72 h of the Hanoi backtest
    to persistence on a loss of 8–14 % that was not significant (t < 0.8) and cost the month
    after more than it saved (docs/performance.md)."""
    _, idx = np.unique(day, return_inverse=True)
    daily = np.bincount(idx, excess)
    if len(daily) < 2:
        return bool(daily.sum() > 0)
    sd = daily.std(ddof=1)
    if sd == 0:
        return bool(daily.mean() > 0)
    return bool(daily.mean() / (sd / np.sqrt(len(daily))) > FALLBACK_T)


def predict(f: Fit, table: Table, origin: np.ndarray, h: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """(central, low, high) per pair as an (n, 3) array, and whether the model (not
    persistence) gave each."""
    origin, h = np.asarray(origin), np.asarray(h)
    pers = table.y[origin]
    out = np.stack([pers, pers, pers], axis=1)
    if f.spread is not None:
        out[:, 1] = np.maximum(pers + f.spread[h, 0], 0.0)
        out[:, 2] = np.maximum(pers + f.spread[h, 1], 0.0)
    by_model = f.use_model[h] if f.boosters else np.zeros(len(h), bool)
    if by_model.any():
        out[by_model] = _predict(f.boosters, table, origin[by_model], h[by_model],
                                 f.tree_weight)
    return out, by_model


def _ranges(hs: list[int]) -> str:
    parts, start = [], hs[0]
    for a, b in zip(hs, hs[1:] + [None], strict=True):
        if b != a + 1:
            parts.append(f"{start}" if start == a else f"{start}–{a}")
            start = b
    return ", ".join(parts)
