"""VN_AQI (Decision 1459/QĐ-TCMT) checked against the decision's own table and rules.

The breakpoint table below is typed in from the decision, independently of the JSON the
code reads, so a typo in either one fails here.
"""

import copy
import json

import pytest

from collector.domain import aqi
from collector.domain.aqi import AqiResult, band, daily_aqi, hourly_aqi, nowcast, sub_index

INDEX = [0, 50, 100, 150, 200, 300, 400, 500]
DECISION_1459 = {
    "o3_1h": [0, 160, 200, 300, 400, 800, 1000, 1200],
    "o3_8h": [0, 100, 120, 170, 210, 400],
    "co": [0, 10000, 30000, 45000, 60000, 90000, 120000, 150000],
    "so2": [0, 125, 350, 550, 800, 1600, 2100, 2630],
    "no2": [0, 100, 200, 700, 1200, 2350, 3100, 3850],
    "pm10": [0, 50, 150, 250, 350, 420, 500, 600],
    "pm2_5": [0, 25, 50, 80, 150, 250, 350, 500],
}
ROWS = [(p, bp, i) for p, bps in DECISION_1459.items() for bp, i in zip(bps, INDEX, strict=False)]
BRACKETS = [(p, bps[k], bps[k + 1], INDEX[k], INDEX[k + 1])
            for p, bps in DECISION_1459.items() for k in range(len(bps) - 1)]


@pytest.mark.parametrize(("param", "bp", "index"), ROWS)
def test_every_breakpoint_maps_to_its_index_exactly(param, bp, index):
    assert sub_index(param, bp) == index


@pytest.mark.parametrize(("param", "lo", "hi", "i_lo", "i_hi"), BRACKETS)
def test_midpoint_of_each_bracket_interpolates_linearly(param, lo, hi, i_lo, i_hi):
    assert sub_index(param, (lo + hi) / 2) == pytest.approx((i_lo + i_hi) / 2)
    quarter = lo + (hi - lo) / 4
    assert sub_index(param, quarter) == pytest.approx(i_lo + (i_hi - i_lo) / 4)


def test_worked_sub_indices():
    # PM2.5 37.5 µg/m³: 50 + (100 − 50)/(50 − 25) × (37.5 − 25) = 75
    assert sub_index("pm2_5", 37.5) == 75
    # CO 20000 µg/m³: 50 + 50/20000 × 10000 = 75
    assert sub_index("co", 20000) == 75


def test_above_the_last_breakpoint_caps_at_500_except_o3_8h_which_has_none():
    assert sub_index("pm10", 601) == 500
    assert sub_index("pm2_5", 10_000) == 500
    assert sub_index("co", 150_001) == 500
    assert sub_index("o3_8h", 400) == 300
    assert sub_index("o3_8h", 400.1) is None


def test_missing_and_bad_concentrations():
    assert sub_index("so2", None) is None
    with pytest.raises(ValueError, match="negative"):
        sub_index("so2", -0.1)
    with pytest.raises(ValueError, match="'o3' is not one of"):
        sub_index("o3", 10)
    with pytest.raises(ValueError, match="not a number"):
        sub_index("pm10", float("nan"))


# NowCast: lists are oldest first, so the last element is c1 (the current hour).

def test_nowcast_of_steady_hours_is_that_value():
    assert nowcast([20.0] * 12) == pytest.approx(20.0)
    assert nowcast([15.0, 15.0]) == pytest.approx(15.0)  # only c1, c2 exist


def test_nowcast_rising_series_uses_w_one_half():
    # c1 = 40, c2 = 20, c3..c12 = 10: w* = 10/40 < 1/2, so w = 1/2.
    # Σ w^(i−1)c_i = 40 + 20/2 + 10(1/4 + … + 1/2048); Σ w^(i−1) = 2 − 1/2048
    hours = [10.0] * 10 + [20.0, 40.0]
    expected = (40 + 10 + 10 * (0.5 - 1 / 2048)) / (2 - 1 / 2048)
    assert nowcast(hours) == pytest.approx(expected)
    assert nowcast(hours) == pytest.approx(112630 / 4095)  # the same, as one fraction


def test_nowcast_with_w_above_one_half():
    # c1 = 30, c2..c12 = 20: w = 20/30 = 2/3
    w = 2 / 3
    expected = (30 + sum(20 * w**i for i in range(1, 12))) / sum(w**i for i in range(12))
    assert nowcast([20.0] * 11 + [30.0]) == pytest.approx(expected)


def test_nowcast_missing_hours_weigh_nothing_but_keep_their_place():
    # c1 = 30, c2 missing, c3 = 10: w = 1/2, NowCast = (30 + 10/4)/(1 + 1/4) = 26
    assert nowcast([None] * 9 + [10.0, None, 30.0]) == pytest.approx(26.0)


def test_nowcast_needs_two_of_the_three_latest_hours():
    old = [50.0] * 9
    assert nowcast(old + [None, None, 30.0]) is None          # only c1
    assert nowcast(old + [20.0, None, None]) is None          # only c3
    assert nowcast([None] * 9 + [20.0, 20.0, None]) == pytest.approx(20.0)  # c2, c3
    assert nowcast([]) is None


def test_nowcast_uses_only_the_last_twelve_hours_and_zero_is_zero():
    assert nowcast([1000.0] * 5 + [20.0] * 12) == pytest.approx(20.0)
    assert nowcast([0.0] * 12) == 0.0


def test_hourly_aqi_gases_use_the_current_hour_and_o3_the_1h_table():
    res = hourly_aqi({"pm2_5": [12.5] * 12, "so2": [2000.0, 125.0], "o3": [200.0]})
    # PM2.5 NowCast 12.5 -> 25; SO2 current 125 -> 50 (the earlier 2000 is not used);
    # O3 200 in the 1-h table -> 100 (the 8-h table would say more than 150)
    assert res == AqiResult(aqi=100, dominant="o3", sub={"so2": 50, "o3": 100, "pm2_5": 25})


def test_hourly_aqi_pm_uses_nowcast_not_the_current_hour():
    # c1 = 40, c2 = 20, rest 10 -> NowCast 27.504…: 50 + 2 × 2.504… = 55.01 -> 55
    res = hourly_aqi({"pm2_5": [10.0] * 10 + [20.0, 40.0]})
    assert res.aqi == 55 and res.dominant == "pm2_5"


def test_hourly_aqi_needs_pm10_or_pm2_5():
    res = hourly_aqi({"no2": [150.0], "pm10": [None, None, 80.0]})
    assert res.aqi is None and res.dominant is None
    assert res.sub == {"no2": 75}


def test_aqi_rounds_half_up():
    # PM2.5 25.25 -> 50 + 2 × 0.25 = 50.5 -> 51 (Python's round() would give 50)
    res = hourly_aqi({"pm2_5": [25.25] * 12})
    assert res.aqi == 51 and res.sub == {"pm2_5": 51}
    assert band(res.aqi)[0] == "moderate"


def test_dominant_tie_goes_to_the_first_in_the_table_order():
    # PM10 100 -> 75 and NO2 150 -> 75: PM10 comes before NO2 in choices.dominant_tie_order
    res = hourly_aqi({"no2": [150.0], "pm10": [100.0] * 12})
    assert res.aqi == 75 and res.dominant == "pm10"


def _day(values: dict[int, float], leading: list | None = None) -> list:
    hours = [None] * 24
    for h, v in values.items():
        hours[h] = v
    return (leading or []) + hours


def test_daily_pm_is_the_24h_mean_and_needs_18_hours():
    eighteen = [20.0, 55.0] * 9 + [None] * 6     # mean 37.5 -> 75
    assert daily_aqi({"pm2_5": eighteen}).sub == {"pm2_5": 75}
    seventeen = [20.0, 55.0] * 8 + [37.5] + [None] * 7
    assert daily_aqi({"pm2_5": seventeen}) == AqiResult(None, None, {})


def test_daily_uses_only_the_last_24_hours():
    res = daily_aqi({"pm10": [900.0] * 6 + [100.0] * 24})
    assert res.sub == {"pm10": 75}


def test_daily_gases_use_the_highest_hour_even_with_gaps():
    res = daily_aqi({"pm2_5": [5.0] * 24, "so2": _day({23: 350.0}),
                     "no2": _day({3: 100.0, 4: 200.0}), "co": _day({0: 30000.0})})
    assert res.sub == {"so2": 100, "co": 100, "no2": 100, "pm2_5": 10}
    assert res.aqi == 100 and res.dominant == "no2"  # tie order: o3, no2, so2, co


def test_daily_o3_takes_the_8h_subindex_when_it_is_higher():
    # 150 all day: 1-h table 150/160 × 50 = 46.875; 8-h table 100 + 50 × 30/50 = 130
    res = daily_aqi({"pm2_5": [5.0] * 24, "o3": [150.0] * 31})
    assert res.sub["o3"] == 130 and res.aqi == 130 and res.dominant == "o3"


def test_daily_o3_takes_the_1h_subindex_when_it_is_higher():
    # one hour at 300 -> 1-h 150; best 8-h mean 300/8 = 37.5 -> 18.75
    res = daily_aqi({"pm2_5": [5.0] * 24, "o3": [0.0] * 12 + [300.0] + [0.0] * 11})
    assert res.sub["o3"] == 150


def test_daily_o3_8h_above_400_is_skipped():
    # 450 all day: the 8-h table ends at 400, so only the 1-h one counts:
    # 200 + 100 × 50/400 = 212.5 -> 213 (not 300, not 500)
    res = daily_aqi({"pm2_5": [5.0] * 24, "o3": [450.0] * 31})
    assert res.sub["o3"] == 213 and res.aqi == 213


def test_daily_o3_8h_mean_needs_6_of_8_hours():
    five = _day({h: 150.0 for h in range(5)})
    six = _day({h: 150.0 for h in range(6)})
    assert daily_aqi({"pm2_5": [5.0] * 24, "o3": five}).sub["o3"] == 47   # 1-h only
    assert daily_aqi({"pm2_5": [5.0] * 24, "o3": six}).sub["o3"] == 130   # 8-h counts


def test_daily_o3_8h_means_reach_back_seven_hours_before_the_day():
    # 7 hours of 150 before 01:00, then 0: the 8-h mean ending 01:00 is 150 × 7/8 = 131.25
    # -> 100 + 50 × 11.25/50 = 111.25 -> 111
    res = daily_aqi({"pm2_5": [5.0] * 24, "o3": [150.0] * 7 + [0.0] * 24})
    assert res.sub["o3"] == 111


def test_bad_means_name_param_and_hour():
    with pytest.raises(ValueError, match="'tsp' is not a VN_AQI parameter"):
        hourly_aqi({"tsp": [10.0]})
    with pytest.raises(ValueError, match=r"pm10\[1\]: -3.0 is negative"):
        daily_aqi({"pm10": [1.0, -3.0]})
    with pytest.raises(ValueError, match=r"no2\[0\]: '7' is not a number"):
        hourly_aqi({"no2": ["7"]})
    with pytest.raises(ValueError, match="expected a list"):
        hourly_aqi({"no2": 7})
    with pytest.raises(ValueError, match="not a number"):
        hourly_aqi({"no2": [True]})


BAND_EDGES = [
    (0, "good", "Tốt", (0, 228, 0)), (50, "good", "Tốt", (0, 228, 0)),
    (51, "moderate", "Trung bình", (255, 255, 0)), (100, "moderate", "Trung bình", (255, 255, 0)),
    (101, "poor", "Kém", (255, 126, 0)), (150, "poor", "Kém", (255, 126, 0)),
    (151, "bad", "Xấu", (255, 0, 0)), (200, "bad", "Xấu", (255, 0, 0)),
    (201, "very_bad", "Rất xấu", (143, 63, 151)), (300, "very_bad", "Rất xấu", (143, 63, 151)),
    (301, "hazardous", "Nguy hại", (126, 0, 35)), (500, "hazardous", "Nguy hại", (126, 0, 35)),
]


@pytest.mark.parametrize(("value", "key", "vi", "rgb"), BAND_EDGES)
def test_bands_and_colours_at_their_edges(value, key, vi, rgb):
    got = band(value)
    assert (got[0], got[1], got[3]) == (key, vi, rgb)


def test_band_rounds_half_up_and_rejects_negatives():
    assert band(50.5)[0] == "moderate"
    assert band(50.4)[0] == "good"
    with pytest.raises(ValueError):
        band(-1)


def test_a_broken_table_names_the_key():
    doc = json.loads(aqi.TABLE_PATH.read_text(encoding="utf-8"))
    broken = copy.deepcopy(doc)
    broken["breakpoints"]["pm10"][2] = 40
    with pytest.raises(aqi.AqiTableError, match="breakpoints.pm10"):
        aqi.parse_table(broken)
    broken = copy.deepcopy(doc)
    broken["choices"]["pm_24h_min_hours"] = 30
    with pytest.raises(aqi.AqiTableError, match="pm_24h_min_hours"):
        aqi.parse_table(broken)


def test_a_province_can_change_the_completeness_rule_in_data():
    doc = json.loads(aqi.TABLE_PATH.read_text(encoding="utf-8"))
    doc["choices"]["pm_24h_min_hours"] = 12
    table = aqi.parse_table(doc)
    twelve = [37.5] * 12 + [None] * 12
    assert daily_aqi({"pm2_5": twelve}, table).aqi == 75
    assert daily_aqi({"pm2_5": twelve}).aqi is None
