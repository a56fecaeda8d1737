"""The daily discharge volume of a wastewater outfall, computed by the collector per local day
(Asia/Ho_Chi_Minh) from its flow in m³/h: the pure function and the aggregate stage."""

from __future__ import annotations

import pytest

from collector.contracts import QC_FAIL, QC_GOOD, Batch, Reading
from collector.processors.aggregate.means import Completeness, Mean
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.processors.aggregate.volume import daily_volume

H = 3600
DAY = 1763744400  # 2025-11-22 00:00 local (UTC+7) = 2025-11-21T17:00Z
STATION = "pq-ww-01"  # wastewater profile: a record every 300 s


def hours(flows: dict[int, float], complete: bool = True) -> dict[int, Mean]:
    """Hourly means of flow, keyed by hour start, hour i of the local day."""
    return {DAY + i * H: Mean(f, 12 if complete else 3, 12, complete) for i, f in flows.items()}


def test_a_full_day_of_hourly_flows_sums_to_its_volume():
    flows = {i: 20.0 + 5.0 * i for i in range(24)}  # 20, 25 … 135 m³/h
    v = daily_volume(hours(flows), DAY, "m3/h", Completeness())
    assert v.value == pytest.approx(1860.0)  # 24 × 20 + 5 × (0 + 1 + … + 23)
    assert (v.measured, v.n, v.expected, v.complete) == (pytest.approx(1860.0), 24, 24, True)


def test_missing_hours_are_filled_at_the_days_mean_flow_and_counted():
    flows = {i: 50.0 for i in range(24) if i not in (3, 4, 5, 6)}
    flows[10] = 130.0  # 19 hours at 50, one at 130: 1080 m³ measured over 20 hours
    v = daily_volume(hours(flows), DAY, "m3/h", Completeness())
    assert v.measured == pytest.approx(1080.0)
    assert v.value == pytest.approx(1080.0 * 24 / 20)
    assert (v.n, v.complete) == (20, True)  # 18 of 24, the daily-mean rule


def test_a_day_with_too_few_complete_hours_is_not_complete_and_incomplete_hours_do_not_count():
    full = hours({i: 40.0 for i in range(12)})
    partial = hours({i: 999.0 for i in range(12, 24)}, complete=False)
    v = daily_volume({**full, **partial}, DAY, "m3/h", Completeness())
    assert (v.value, v.measured, v.n, v.complete) == (pytest.approx(960.0),
                                                       pytest.approx(480.0), 12, False)
    nothing = daily_volume({}, DAY, "m3/h", Completeness())
    assert (nothing.value, nothing.measured, nothing.n, nothing.complete) == (None, 0.0, 0,
                                                                               False)


def test_a_flow_in_litres_per_second_gives_cubic_metres_and_an_unknown_unit_is_named():
    v = daily_volume(hours({i: 10.0 for i in range(24)}), DAY, "L/s", Completeness())
    assert v.value == pytest.approx(864.0)  # 10 L/s = 36 m³/h
    with pytest.raises(ValueError, match="'gal/min' is not one of m3/h, L/s, m3/s"):
        daily_volume({}, DAY, "gal/min", Completeness())


def flow(t: int, value: float | None, **kw) -> Reading:
    base = dict(station=STATION, kind="wastewater", param="flow", unit="m3/h", time=t,
                value=value, status=0, qc=QC_GOOD, n=30)
    return Reading(**{**base, **kw})


def local_day_series(start: int) -> list[Reading]:
    """5-minute records of one local day: 40 m³/h 00–06, 100 m³/h 06–18, 60 m³/h 18–24
    (6 × 40 + 12 × 100 + 6 × 60 = 1800 m³). Records are stamped at the END of their period,
    so the one stamped at the next midnight still belongs to this day."""
    out = []
    for i in range(288):
        h = i // 12
        out.append(flow(start + 300 * (i + 1), 40.0 if h < 6 else 100.0 if h < 18 else 60.0))
    return out


def volumes(points) -> dict[int, dict]:
    return {p.time: {**p.tags, **p.fields} for p in points
            if p.measurement == "mean" and p.tags["param"] == "volume"}


def test_the_stage_stores_the_local_days_volume_beside_its_mean_flow():
    agg = AggregateProcessor("phu-quoc")
    batch = agg.process(Batch([], readings=local_day_series(DAY)))
    got = volumes(batch.points)
    # one volume, at the local midnight that ends the day (17:00Z), not at a UTC midnight
    assert list(got) == [DAY + 24 * H]
    v = got[DAY + 24 * H]
    assert (v["station"], v["kind"], v["param"], v["unit"], v["period"]) == \
        (STATION, "wastewater", "volume", "m3", "24h")
    assert v["value"] == pytest.approx(1800.0) and v["measured"] == pytest.approx(1800.0)
    assert (v["n"], v["expected"], v["complete"]) == (24, 24, True)
    daily_flow = [p for p in batch.points if p.tags["param"] == "flow"
                  and p.tags["period"] == "24h"]
    assert daily_flow[0].fields["value"] == pytest.approx(75.0)  # 1800 m³ / 24 h


def test_a_late_record_recomputes_the_volume_and_a_failed_value_does_not_count():
    agg = AggregateProcessor("phu-quoc")
    series = local_day_series(DAY)
    # hour 09-10 arrives later; meanwhile it is filled at the day's mean flow
    early = [r for r in series if not DAY + 9 * H < r.time <= DAY + 10 * H]
    late = [r for r in series if DAY + 9 * H < r.time <= DAY + 10 * H]
    first = volumes(agg.process(Batch([], readings=early)).points)[DAY + 24 * H]
    assert first["n"] == 23 and first["measured"] == pytest.approx(1700.0)
    assert first["value"] == pytest.approx(1700.0 * 24 / 23)
    # the late hour holds one impossible value, flagged by QC: it is left out of its hour
    late[0] = flow(late[0].time, 90000.0, qc=QC_FAIL)
    second = volumes(agg.process(Batch([], readings=late)).points)[DAY + 24 * H]
    assert (second["n"], second["value"]) == (24, pytest.approx(1800.0))


def test_only_flow_gives_a_volume():
    agg = AggregateProcessor("phu-quoc")
    readings = [flow(DAY + 300 * (i + 1), 7.0, param="ph", unit="pH") for i in range(24)]
    assert volumes(agg.process(Batch([], readings=readings)).points) == {}


def test_a_flowmeter_in_a_unit_without_a_conversion_stops_the_stage_at_start(monkeypatch):
    import boards

    real = boards.Station.params

    def params(self):
        p = real(self)
        return {**p, "flow": "gal/min"} if "flow" in p else p

    monkeypatch.setattr(boards.Station, "params", params)
    with pytest.raises(ValueError, match="station pq-ww-01 reports flow in 'gal/min'; the "
                                         "daily volume needs one of m3/h, L/s, m3/s"):
        AggregateProcessor("phu-quoc")
