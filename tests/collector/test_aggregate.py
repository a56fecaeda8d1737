"""Hourly, rolling 8-hour and local-day means: completeness, validity, late and backfilled
records recomputing what they touch, the bounded window, and state across a restart."""

from __future__ import annotations

import json

import pytest

from collector.contracts import QC_FAIL, QC_GOOD, QC_MISSING, Batch, Reading
from collector.processors.aggregate.means import Completeness, Mean, expected_per_hour, needed
from collector.processors.aggregate.plugin import AggregateProcessor

H = 3600
T = 1763755200  # 2025-11-21T20:00Z = 2025-11-22 03:00 local (UTC+7): an hour boundary
DAY = 1763744400  # 2025-11-22 00:00 local = 2025-11-21T17:00Z
STATION = "pq-air-01"  # air-standard profile: a record every 300 s, 12 per hour


def reading(t: int, value: float | None = 100.0, param: str = "so2", **kw) -> Reading:
    base = dict(station=STATION, kind="air", param=param, unit="ppb", time=t, value=value,
                status=0, qc=QC_GOOD, n=30)
    return Reading(**{**base, **kw})


def hour(start: int, values: list[float | None], **kw) -> list[Reading]:
    """Records stamped at the END of their 5-minute periods: start+300 … start+3600."""
    return [reading(start + 300 * (i + 1), v, **kw) for i, v in enumerate(values)]


def run(p: AggregateProcessor, readings: list[Reading]) -> dict[tuple[str, int], dict]:
    batch = p.process(Batch([], readings=list(readings)))
    out = {}
    for pt in batch.points:
        assert pt.measurement == "mean"
        out[(pt.tags["period"], pt.time)] = {**pt.fields, **pt.tags}
    return out


@pytest.fixture
def agg() -> AggregateProcessor:
    return AggregateProcessor("phu-quoc")


def test_an_hour_of_records_gives_a_complete_hourly_mean_at_the_hour_end(agg):
    got = run(agg, hour(T, [float(v) for v in range(1, 13)]))
    m = got[("1h", T + H)]
    assert m["value"] == pytest.approx(6.5)
    assert (m["n"], m["expected"], m["complete"], m["records"], m["qc_fail"]) == \
        (12, 12, True, 12, 0)
    assert (m["station"], m["kind"], m["param"], m["unit"]) == (STATION, "air", "so2", "ppb")


def test_a_record_stamped_on_the_hour_belongs_to_the_hour_it_ends(agg):
    got = run(agg, [reading(T + H, 50.0)])
    assert ("1h", T + H) in got and ("1h", T + 2 * H) not in got


@pytest.mark.parametrize("present, complete", [(9, True), (8, False)])
def test_an_hour_is_complete_with_75_percent_of_its_records(agg, present, complete):
    m = run(agg, hour(T, [10.0] * present))[("1h", T + H)]
    assert (m["n"], m["complete"]) == (present, complete)


def test_invalid_records_stay_out_of_the_mean_but_count_as_received(agg):
    values = [10.0] * 8 + [None]
    records = hour(T, values) + [
        reading(T + 300 * 10, 999.0, status=1),        # calibrating
        reading(T + 300 * 11, 999.0, status=2),        # device error
        reading(T + 300 * 12, 999.0, qc=QC_FAIL)]      # failed QC
    m = run(agg, records)[("1h", T + H)]
    assert (m["value"], m["n"], m["complete"], m["records"], m["qc_fail"]) == \
        (10.0, 8, False, 12, 1)
    assert run(AggregateProcessor(), [reading(T + 300, 5.0, qc=QC_MISSING)])[("1h", T + H)][
        "n"] == 0


def test_an_hour_without_a_valid_record_has_no_value_field(agg):
    m = run(agg, [reading(T + 300, None)])[("1h", T + H)]
    assert "value" not in m and m["n"] == 0 and m["complete"] is False


def test_a_late_record_recomputes_its_hour_its_8h_windows_and_its_day(agg):
    run(agg, hour(T, [10.0] * 8))
    run(agg, hour(T + H, [10.0] * 12))  # the next hour arrives first
    got = run(agg, [reading(T + 300 * 12, 22.0)])  # the late ninth record of the first hour
    m = got[("1h", T + H)]
    assert (m["n"], m["complete"]) == (9, True) and m["value"] == pytest.approx(102 / 9)
    assert set(got) == {("1h", T + H), ("8h", T + H), ("8h", T + 2 * H), ("24h", DAY + 24 * H)}
    assert got[("8h", T + 2 * H)]["n"] == 2  # both hours now complete


def test_the_same_record_twice_overwrites_instead_of_counting_twice(agg):
    run(agg, hour(T, [10.0] * 9))
    m = run(agg, [reading(T + 300, 40.0)])[("1h", T + H)]
    assert m["n"] == 9 and m["value"] == pytest.approx((40 + 80) / 9)


def test_rolling_8h_mean_needs_6_complete_hours_of_8(agg):
    for i in range(8):
        run(agg, hour(T + i * H, [float(i)] * (12 if i not in (2, 5) else 3)))
    m = run(agg, [])  # nothing new: nothing emitted
    assert m == {}
    m = run(agg, [reading(T + 7 * H + 300, 7.0)])[("8h", T + 8 * H)]
    assert (m["n"], m["expected"], m["complete"]) == (6, 8, True)
    assert m["value"] == pytest.approx((0 + 1 + 3 + 4 + 6 + 7) / 6)
    run(agg, [reading(T + 4 * H + 300 * k, None) for k in range(1, 13)])  # hour 4 invalid
    m = run(agg, [reading(T + 7 * H + 600, 7.0)])[("8h", T + 8 * H)]
    assert (m["n"], m["complete"]) == (5, False)


def test_the_daily_mean_is_the_local_day_and_needs_18_complete_hours(agg):
    # local day 2025-11-22 runs 2025-11-21T17:00Z … 2025-11-22T17:00Z
    got = {}
    for i in range(18):
        got = run(agg, hour(DAY + i * H, [float(i)] * 12))
    d = got[("24h", DAY + 24 * H)]
    assert (d["n"], d["expected"], d["complete"]) == (18, 24, True)
    assert d["value"] == pytest.approx(sum(range(18)) / 18)
    before = run(agg, hour(DAY - H, [5.0] * 12))  # 23:00-24:00 local the day before
    assert ("24h", DAY) in before and ("24h", DAY + 24 * H) not in before


def test_a_days_mean_is_provisional_until_the_stations_records_pass_its_end(agg):
    for i in range(24):
        got = run(agg, hour(DAY + i * H, [float(i)] * 12))
        assert got[("24h", DAY + 24 * H)]["provisional"] is True  # a running estimate
    # the first record of the next day: the finished day's mean is written again, final
    after = run(agg, [reading(DAY + 24 * H + 300, 1.0)])
    d = after[("24h", DAY + 24 * H)]
    assert (d["provisional"], d["n"], d["complete"]) == (False, 24, True)
    assert after[("24h", DAY + 48 * H)]["provisional"] is True


def test_records_older_than_the_window_are_not_aggregated(agg):
    run(agg, hour(T, [10.0] * 12))
    got = run(agg, [reading(T - 49 * H + 300, 99.0)])
    assert got == {} and agg.too_old == 1
    got = run(agg, [reading(T - 40 * H + 300, 99.0)])  # inside the 48-hour window
    assert ("1h", T - 39 * H) in got and agg.too_old == 1


def test_the_window_is_bounded(agg):
    for i in range(60):
        run(agg, [reading(T + i * H + 300, 1.0)])
    series = agg.series[(STATION, "so2", "ppb")]
    assert len(series.hours) <= 49 and min(series.hours) >= T + 59 * H - 48 * H


def test_state_survives_a_restart_so_late_records_still_complete_their_hour(agg):
    run(agg, hour(T, [10.0] * 8) + [reading(T + 300 * 9, 50.0, qc=QC_FAIL)])
    saved = json.loads(json.dumps(agg.state()))
    again = AggregateProcessor("phu-quoc")
    again.restore(saved)
    m = again.process(Batch([], readings=[reading(T + 300 * 12, 10.0)])).points[0]
    assert (m.fields["n"], m.fields["complete"], m.fields["value"]) == (9, True, 10.0)
    assert (m.fields["records"], m.fields["qc_fail"]) == (10, 1)


def test_an_unreadable_state_starts_empty(agg, caplog):
    agg.restore({"v": 99, "series": []})
    assert agg.series == {} and "unreadable" in caplog.text


def test_completeness_of_the_last_full_hour_per_station(agg):
    run(agg, hour(T, [10.0] * 10))
    got = agg.completeness(now=T + H + 120)
    assert got[STATION]["so2"] == {"hour_end": T + H, "n": 10, "expected": 12, "complete": True}
    assert agg.completeness(now=T + 3 * H)[STATION]["so2"]["n"] == 0


def test_thresholds_are_data():
    strict = AggregateProcessor("phu-quoc", Completeness(hour_fraction=1.0))
    assert run(strict, hour(T, [1.0] * 11))[("1h", T + H)]["complete"] is False
    assert needed(12, 0.75) == 9 and needed(12, 1.0) == 12 and expected_per_hour(300) == 12
    assert expected_per_hour(7200) == 1
    with pytest.raises(ValueError, match="day_hours 25"):
        Completeness(day_hours=25)
    assert Mean(None, 0, 12, False).value is None
