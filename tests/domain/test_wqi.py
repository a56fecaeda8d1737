"""VN_WQI (Decision 1460/QĐ-TCMT) checked against the decision's breakpoints, formula and classes.

Expected values are typed in from the decision's tables (as transcribed in
/work/shared/reference: confidence B), independently of the JSON the code reads.
"""

import copy
import json

import pytest

from collector.domain import wqi as w
from collector.domain.wqi import WqiResult, combine, do_saturation, q, sub_do, sub_nh4, sub_ph, wqi

# DO_sat(25 °C) by hand from the decision's cubic:
# 14.652 − 0.41022·25 + 0.0079910·625 − 0.000077774·15625
#   = 14.652 − 10.2555 + 4.994375 − 1.21521875 = 8.17565625 mg/L
DO_SAT_25 = 8.17565625


@pytest.mark.parametrize(("ph", "expected"), [
    (5.4, 10), (5.5, 50), (5.75, 75), (6.0, 100), (7.0, 100), (8.5, 100), (8.75, 75),
    (9.0, 50), (9.1, 10), (0.0, 10), (14.0, 10),
])
def test_ph_subindex_breakpoints_plateau_and_tails(ph, expected):
    assert sub_ph(ph) == pytest.approx(expected)


@pytest.mark.parametrize(("pct", "expected"), [
    (0, 10), (19.9, 10), (20, 25), (35, 37.5), (50, 50), (75, 75), (81.5, 87.5), (88, 100),
    (100, 100), (112, 100), (125, 75), (150, 50), (175, 37.5), (200, 25), (200.1, 10),
])
def test_do_saturation_subindex_breakpoints_plateau_and_tails(pct, expected):
    assert q("do_pct", pct) == pytest.approx(expected)


@pytest.mark.parametrize(("mg_l", "expected"), [
    (0.0, 100), (0.29, 100), (0.3, 75), (0.45, 62.5), (0.6, 50), (0.9, 25), (2.95, 17.5),
    (5.0, 10), (7.0, 10),
])
def test_nh4_subindex_breakpoints_and_tails(mg_l, expected):
    assert sub_nh4(mg_l) == pytest.approx(expected)


def test_do_saturation_is_the_decisions_cubic():
    assert do_saturation(0) == pytest.approx(14.652)
    # The cubic gives 8.18 mg/L at 25 °C; the tabulated value (APHA) is 8.26. VN_WQI is
    # defined by the cubic, so the cubic is what we compute.
    assert do_saturation(25) == pytest.approx(DO_SAT_25)
    assert round(do_saturation(25), 2) == 8.18


def test_do_subindex_goes_through_percent_saturation():
    assert sub_do(DO_SAT_25, 25) == pytest.approx(100)          # 100 %
    assert sub_do(DO_SAT_25 / 2, 25) == pytest.approx(50)       # 50 %
    assert sub_do(DO_SAT_25 * 0.75, 25) == pytest.approx(75)    # 75 %
    assert sub_do(DO_SAT_25 * 1.5, 25) == pytest.approx(50)     # 150 %: supersaturated


def test_full_wqi_by_hand():
    # pH 8.75 -> 75; DO 75 % of saturation at 25 °C -> 75; NH4 0.45 -> 62.5
    # group IV = (75 + 62.5)/2 = 68.75; WQI = 75/100 × 68.75 = 51.5625 -> 52, medium
    res = wqi({"ph": 8.75, "do": DO_SAT_25 * 0.75, "temp": 25, "nh4": 0.45})
    assert res == WqiResult(wqi=None, cls=None, status="not_computed", why=res.why,
                            indicative=52, indicative_cls="medium",
                            sub={"ph": 75.0, "do": 75.0, "nh4": 62.5})
    # 2 groups (I, IV) and 2 group IV parameters: below the data-sufficiency rule
    assert res.why.startswith("data sufficiency not met: needs at least 3 of the 5 groups")
    assert "have 2 group(s) (I, IV) and 2 group IV parameter(s)" in res.why
    assert "unverified against the signed text" in res.why


def test_clean_water_is_very_good_but_only_indicative():
    res = wqi({"ph": 7.2, "do": DO_SAT_25, "temp": 25, "nh4": 0.1})
    assert (res.wqi, res.status, res.indicative, res.indicative_cls) == \
        (None, "not_computed", 100, "very_good")


def test_missing_group_i_counts_as_100_and_no_group_iv_means_no_wqi():
    res = wqi({"do": DO_SAT_25 * 0.75, "temp": 25, "nh4": 0.45})
    assert res.indicative == 69  # 68.75
    none = wqi({"ph": 7.0})
    assert (none.wqi, none.indicative, none.status, none.sub) == \
        (None, None, "not_computed", {"ph": 100.0})
    assert wqi({"ph": 7.0, "nh4": None, "do": None, "temp": 28}).indicative is None


def test_group_formula_missing_groups():
    # every missing group I–III counts as 100
    assert combine({"IV": 50}) == pytest.approx(50)
    assert combine({"I": 50, "II": 50, "III": 50, "IV": 80}) == pytest.approx(10)
    # with group V: I/100 · √(IV·V) = 0.8 · √(64 · 100) = 64; without it: 0.8 · 64 = 51.2
    assert combine({"I": 80, "IV": 64, "V": 100}) == pytest.approx(64)
    assert combine({"I": 80, "IV": 64}) == pytest.approx(51.2)
    assert combine({"I": 80, "V": 100}) is None


@pytest.mark.parametrize(("value", "key", "rgb"), [
    (100, "very_good", (51, 51, 255)), (91, "very_good", (51, 51, 255)),
    (90.5, "very_good", (51, 51, 255)), (90, "good", (0, 228, 0)), (76, "good", (0, 228, 0)),
    (75, "medium", (255, 255, 0)), (51, "medium", (255, 255, 0)),
    (50, "poor", (255, 126, 0)), (26, "poor", (255, 126, 0)),
    (25, "bad", (255, 0, 0)), (10, "bad", (255, 0, 0)),
    (9, "heavily_polluted", (126, 0, 35)), (0, "heavily_polluted", (126, 0, 35)),
])
def test_classes_and_colours_at_their_edges(value, key, rgb):
    got = w.wqi_class(value)
    assert (got[0], got[3]) == (key, rgb)


def test_heavily_polluted_water():
    # pH 5 -> 10, DO 10 % -> 10, NH4 6 -> 10: 10/100 × 10 = 1
    res = wqi({"ph": 5.0, "do": DO_SAT_25 * 0.1, "temp": 25, "nh4": 6.0})
    assert (res.indicative, res.indicative_cls) == (1, "heavily_polluted")


@pytest.mark.parametrize(("values", "message"), [
    ({"ph": 7, "do": 6.0}, "do: needs temp"),
    ({"ph": 7, "tss": 20}, "'tss' is not a VN_WQI parameter"),
    ({"ph": 7, "bod5": 4}, "'bod5' is a group IV parameter without a sub-index table"),
    ({"nh4": -0.1}, "nh4: -0.1 is negative"),
    ({"ph": 15}, r"ph: 15 is outside 0..14"),
    ({"do": 6, "temp": 60}, r"temp: 60 is outside 0..50"),
    ({"ph": "7"}, "ph: '7' is not a number"),
    ({"ph": True}, "ph: True is not a number"),
])
def test_bad_values_say_what_is_wrong(values, message):
    with pytest.raises(ValueError, match=message):
        wqi(values)


def _doc() -> dict:
    return json.loads(w.TABLE_PATH.read_text(encoding="utf-8"))


def test_sufficiency_rule_is_data_and_decides_the_official_index():
    doc = _doc()
    assert doc["sufficiency"]["verified"] is False  # marked so until the signed text is read
    doc["sufficiency"] = {"min_groups": 2, "min_group_iv": 2}
    table = w.parse_table(doc)
    values = {"ph": 7.0, "do": DO_SAT_25, "temp": 25, "nh4": 0.1}
    met = wqi(values, table)
    assert (met.wqi, met.cls, met.status, met.why, met.indicative) == \
        (100, "very_good", "computed", "", None)
    short = wqi({"ph": 7.0, "nh4": 0.1}, table)
    assert (short.wqi, short.status, short.indicative) == (None, "not_computed", 100)


def test_vn_wqi_applies_to_surface_water_only():
    assert w.refusal("surface_water") is None
    for kind in ("tap_water", "wastewater", "sea_water", "air"):
        assert "VN_WQI (Decision 1460) is for surface water only" in w.refusal(kind)


def test_a_broken_table_names_the_key():
    doc = copy.deepcopy(_doc())
    doc["sub_indices"]["nh4"]["points"][1][0] = 0.2
    with pytest.raises(w.WqiTableError, match="sub_indices.nh4.points"):
        w.parse_table(doc)
    doc = copy.deepcopy(_doc())
    doc["sub_indices"]["coliform"] = {"group": "V", "below": 100, "points": [[1, 2], [3, 4]],
                                      "above": 10}
    with pytest.raises(w.WqiTableError, match="only groups I, IV are computed"):
        w.parse_table(doc)
