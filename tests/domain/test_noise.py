"""Noise maths (collector/domain/noise.py): energy means, statistical levels, periods."""

import math

import numpy as np
import pytest

from collector.domain import noise


def test_laeq_of_50_60_70_is_the_energy_mean_not_60():
    assert round(noise.laeq([50, 60, 70]), 1) == 65.7


def test_laeq_weighted_by_duration():
    # 10 min of a 80 dB truck pass-by in an hour of 50 dB: 10·log10((10·10^8 + 50·10^5)/60)
    assert noise.laeq([80, 50], durations=[10, 50]) == pytest.approx(72.25, abs=0.01)
    # a level that lasts no time does not count
    assert noise.laeq([80, 50], durations=[0, 50]) == pytest.approx(50.0)


def test_laeq_of_equal_levels_is_that_level():
    assert noise.laeq([63.4] * 7) == pytest.approx(63.4)


def test_day_laeq_of_fifteen_hourly_values_matches_an_independent_energy_mean():
    # 06:00–21:00 at a night-market street: quiet morning, traffic peaks, loud evening
    hourly = [52.1, 58.4, 66.0, 68.7, 64.2, 61.5, 60.0, 59.3, 62.8, 65.5, 69.9, 71.2, 74.6,
              76.3, 73.0]
    assert len(hourly) == 15
    # written differently on purpose: numpy over the powers, no shift by the loudest level
    expected = 10 * np.log10(np.mean(np.power(10.0, np.array(hourly) / 10.0)))
    got = noise.period_laeq(hourly)
    assert abs(got - expected) < 0.1
    # and by an explicit loop with fsum
    powers = []
    for level in hourly:
        powers.append(10 ** (level / 10))
    assert abs(got - 10 * math.log10(math.fsum(powers) / len(powers))) < 0.1
    # the arithmetic mean is wrong by several dB: the test would catch it
    assert expected - sum(hourly) / len(hourly) > 3


def test_lamax_lamin():
    assert noise.lamax([55.5, 71.2, 48.0]) == 71.2
    assert noise.lamin([55.5, 71.2, 48.0]) == 48.0


def test_statistical_levels_of_1_to_100():
    levels = list(range(1, 101))
    assert noise.statistical(levels) == {"l10": 90, "l50": 50, "l90": 10}


def test_statistical_levels_of_a_street():
    # 20 samples: a 45 dB background with a few pass-bys
    levels = [45] * 14 + [60, 62, 65, 70, 75, 80]
    got = noise.statistical(levels)
    # 2 of 20 samples (10 %) are above 70; L90 and L50 are the background
    assert got == {"l10": 70, "l50": 45, "l90": 45}


def test_statistical_levels_from_the_histogram_match_the_samples():
    levels = [round(40 + (i * 37 % 61) * 0.5, 1) for i in range(600)]  # on 0.5 dB bin edges
    counts = noise.histogram(levels)
    assert len(counts) == noise.HIST_BINS and sum(counts) == 600
    assert noise.statistical_from_histogram(counts) == noise.statistical(levels)


def test_histogram_levels_are_within_one_bin_below_the_samples():
    levels = [47.3, 52.9, 61.7, 66.1, 70.4, 55.55, 58.2, 49.9, 63.3, 71.8]
    got = noise.statistical_from_histogram(noise.histogram(levels))
    want = noise.statistical(levels)
    for k in want:
        assert 0 <= want[k] - got[k] < noise.HIST_RESOLUTION_DB


def test_histogram_clamps_below_the_floor_and_above_the_top():
    counts = noise.histogram([5.0, 160.0])
    assert counts[0] == 1 and counts[-1] == 1


def test_summary():
    got = noise.summary([50, 60, 70])
    assert round(got["laeq"], 1) == 65.7
    assert (got["lamax"], got["lamin"]) == (70, 50)
    assert (got["l10"], got["l50"], got["l90"]) == (70, 60, 50)


@pytest.mark.parametrize("levels, msg", [
    ([], "no levels"),
    ([50, float("nan")], "level 1 (nan) is not a finite number"),
    ([float("inf")], "level 0 (inf) is not a finite number"),
    ([50, -1], "level 1 (-1 dB) is outside 0..200 dB"),
    ([201], "level 0 (201 dB) is outside 0..200 dB"),
    ([50, "60"], "level 1 ('60') is not a number"),
    ([True], "level 0 (True) is not a number"),
    ("50,60", "must be a list of numbers"),
])
def test_bad_levels_are_refused_by_every_function(levels, msg):
    for f in (noise.laeq, noise.lamax, noise.lamin, noise.statistical, noise.summary,
              noise.histogram):
        with pytest.raises(noise.NoiseError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            f(levels)


def test_bad_hourly_values_name_the_hour():
    with pytest.raises(noise.NoiseError, match=r"hourly LAeq 2 \(nan\)"):
        noise.period_laeq([55, 56, float("nan")])


@pytest.mark.parametrize("durations, msg", [
    ([1], "1 durations for 2 levels"),
    ([1, -1], r"duration 1 \(-1\) is not a finite number >= 0"),
    ([0, 0], "add up to nothing"),
    ([1, float("nan")], r"duration 1 \(nan\)"),
])
def test_bad_durations_are_refused(durations, msg):
    with pytest.raises(noise.NoiseError, match=msg):
        noise.laeq([50, 60], durations=durations)


@pytest.mark.parametrize("counts, msg", [
    ([1, 2, 3], "a histogram is a list of 240 counts"),
    ([0] * noise.HIST_BINS, "the histogram is empty"),
    ([0] * 10 + [-1] + [0] * 229, r"bin 10 \(-1\) is not a count"),
])
def test_bad_histograms_are_refused(counts, msg):
    with pytest.raises(noise.NoiseError, match=msg):
        noise.statistical_from_histogram(counts)


QCVN26_2010 = [noise.Period("day", 6, 21), noise.Period("night", 21, 6)]


@pytest.mark.parametrize("hour, name", [(0, "night"), (5, "night"), (6, "day"), (12, "day"),
                                        (20, "day"), (21, "night"), (23, "night")])
def test_period_of_an_hour_under_qcvn_26_2010(hour, name):
    assert noise.period_of(hour, QCVN26_2010) == name


def test_an_hour_is_never_guessed_into_a_period_whose_clock_hours_are_not_known():
    periods = [noise.Period("day", None, None), noise.Period("evening", None, None),
               noise.Period("night", None, None)]
    with pytest.raises(noise.NoiseError, match="clock hours of day, evening, night are not "
                                               "found"):
        noise.period_of(12, periods)


@pytest.mark.parametrize("hour, periods, msg", [
    (24, QCVN26_2010, "hour 24 is not a whole hour"),
    (6.5, QCVN26_2010, "hour 6.5 is not a whole hour"),
    (3, [noise.Period("day", 6, 21)], r"hour 0 falls in 0 periods"),
    (3, [noise.Period("day", 6, 22), noise.Period("night", 21, 6)], "hour 21 falls in 2"),
    (3, [noise.Period("day", 6, None)], "both clock hours or neither"),
])
def test_bad_hours_and_periods_are_refused(hour, periods, msg):
    with pytest.raises(noise.NoiseError, match=msg):
        noise.period_of(hour, periods)
