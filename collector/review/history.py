"""A flag on hours the aggregate stage no longer keeps: their means and VN_AQI recomputed from
what InfluxDB stores (the readings, and the other parameters' hourly means), off the ingest
thread.

For the flagged parameter: every hour of the local days the flag touches gets its hourly mean
again from the stored readings without the flagged records (and without those of any other
flag), each day its daily mean (`provisional` false: the day is long over). For an air
station whose parameter enters VN_AQI: the hourly AQI of each flagged hour and of the 11 after
it (their NowCast includes it) and the daily AQI of each day, from the stored complete hourly
means of every AQI parameter with the recomputed ones in place. 8-hour means and 24-hour limit
judgements of such old days are not redone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from datetime import tzinfo

from collector.contracts import HOUR_S, QC_FAIL, Point, hour_of, retraction
from collector.domain import aqi
from collector.domain.aqi import NOWCAST_HOURS
from collector.processors.aggregate.combine import for_param
from collector.processors.aggregate.means import (
    DAY_HOURS,
    ROLLING_HOURS,
    Completeness,
    Mean,
    daily,
    day_start,
    hour_mean,
    valid,
)
from collector.processors.units.convert import UnitError, to_canonical
from collector.retention import shipped
from collector.review.marks import Mark, Review
from quantrac_common import influxql

log = logging.getLogger("quantrac.collector.review")
Services = Callable[[], Mapping[str, str]]


def _quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")


def recompute(services: Mapping[str, str], m: Mark, kind: str, review: Review, tz: tzinfo,
              expected: int, rule: Completeness) -> list[Point]:
    """The `mean` and `aqi` points the flag `m` changes, from the stored data."""
    first_day = day_start(hour_of(m.start + 1), tz)
    last_day = day_start(hour_of(m.end), tz)
    until = last_day + DAY_HOURS * HOUR_S
    st, par = _quote(m.station), _quote(m.param)
    q = (f'SELECT "value", "status", "qc" FROM {shipped().qualified("reading")} WHERE '
         f'"station" = \'{st}\' AND "param" = \'{par}\' AND time > {first_day}s AND '
         f'time <= {until}s GROUP BY "unit"')
    hours: dict[str, dict[int, list[tuple[float | None, bool]]]] = {}
    for r in influxql.rows(influxql.query(dict(services), q)):
        t, v = int(r["time"]), r.get("value")
        status, qc = int(r.get("status") or 0), int(r.get("qc") or 2)
        good = v is not None and valid(float(v), status, qc) and \
            review.invalid(m.station, m.param, t) is None
        hours.setdefault(r["unit"], {}).setdefault(hour_of(t), []).append(
            (float(v) if good else None, qc == QC_FAIL))
    points: list[Point] = []
    means_by_unit: dict[str, dict[int, Mean]] = {}
    combine = for_param(m.param)  # sound levels as energy, as the aggregate stage does
    for unit, by_hour in hours.items():
        tags = {"station": m.station, "kind": kind, "param": m.param, "unit": unit}
        means = means_by_unit[unit] = {
            h: hour_mean([v for v, _f in recs], expected, rule, combine)
            for h, recs in by_hour.items()}
        for h in sorted(by_hour):
            if m.start < h + HOUR_S and h < m.end:  # an hour the flag touches
                points.append(_mean_point(tags, "1h", h + HOUR_S, means[h], {
                    "records": len(by_hour[h]),
                    "qc_fail": sum(1 for _v, f in by_hour[h] if f)}))
        day = first_day
        while day <= last_day:
            points.append(_mean_point(tags, "24h", day + DAY_HOURS * HOUR_S,
                                      daily(means, day, rule, combine),
                                      {"provisional": False}))
            day = day_start(day + (DAY_HOURS + 2) * HOUR_S, tz)
    if kind == "air" and m.param in aqi.PARAMS:
        points += _indices(services, m, means_by_unit, first_day, last_day, tz)
    # what these replace is deleted first: a mean or index without a value keeps none
    return [retraction(p.measurement, p.tags, p.time) for p in points] + \
        [p for p in points if set(p.fields) - {"complete"}]


def _indices(services: Mapping[str, str], m: Mark, recomputed: dict[str, dict[int, Mean]],
             first_day: int, last_day: int, tz: tzinfo) -> list[Point]:
    from collector.processors.indices.plugin import _aqi_point  # one point format

    since = first_day - (ROLLING_HOURS + NOWCAST_HOURS) * HOUR_S
    until = last_day + (DAY_HOURS + NOWCAST_HOURS) * HOUR_S
    q = (f'SELECT "value", "complete" FROM {shipped().qualified("mean")} WHERE '
         f'"station" = \'{_quote(m.station)}\' AND "period" = \'1h\' AND time > {since}s AND '
         f'time <= {until}s GROUP BY "param", "unit"')
    series: dict[str, dict[int, float | None]] = {}
    for r in influxql.rows(influxql.query(dict(services), q)):
        param = r["param"]
        if param not in aqi.PARAMS:
            continue
        series.setdefault(param, {})[int(r["time"]) - HOUR_S] = \
            _canonical(param, r.get("unit", ""), r.get("value"), r.get("complete"))
    for unit, means in recomputed.items():
        for h, mean in means.items():
            series.setdefault(m.param, {})[h] = _canonical(m.param, unit, mean.value,
                                                           mean.complete)
    newest = max((h for hs in series.values() for h in hs), default=0)

    def window(end: int, n: int) -> dict[str, list[float | None]]:
        return {p: [hs.get(end - i * HOUR_S) for i in range(n - 1, -1, -1)]
                for p, hs in series.items()}

    out: dict[tuple[str, int], Point] = {}
    for h in range(hour_of(m.start + 1), hour_of(m.end) + 1, HOUR_S):
        for i in range(NOWCAST_HOURS):
            end = h + i * HOUR_S
            if end <= newest and ("hour", end) not in out:
                out[("hour", end)] = _aqi_point(m.station, "hour", end + HOUR_S,
                                                aqi.hourly_aqi(window(end, NOWCAST_HOURS)),
                                                True)
    day = first_day
    while day <= last_day:
        last = day + (DAY_HOURS - 1) * HOUR_S
        out[("day", day)] = _aqi_point(m.station, "day", last + HOUR_S, aqi.daily_aqi(
            window(last, DAY_HOURS + ROLLING_HOURS - 1)), True)
        day = day_start(day + (DAY_HOURS + 2) * HOUR_S, tz)
    return list(out.values())  # those without an AQI only retract the stored one


def _canonical(param: str, unit: str, value: object, complete: object) -> float | None:
    if not complete or not isinstance(value, float | int):
        return None
    try:
        return to_canonical(param, unit, float(value))
    except UnitError:
        return None


def _mean_point(tags: dict[str, str], period: str, end: int, m: Mean,
                extra: dict[str, int | bool]) -> Point:
    fields: dict[str, float | int | bool | str] = {}
    if m.value is not None:
        fields["value"] = float(m.value)
    fields.update(n=m.n, expected=m.expected, complete=m.complete, **extra)
    return Point("mean", {**tags, "period": period}, fields, end)


class HistoryWorker:
    """One thread recomputing old hours, one flag at a time; `done()` hands over the points
    made since the last call (the ingest loop spools them at its tick). A failed query is
    retried after `retry_s`, the flags behind it waiting."""

    def __init__(self, services: Services, review: Review, tz: tzinfo,
                 expected: Mapping[str, int], kinds: Mapping[str, str], rule: Completeness,
                 retry_s: float = 30.0) -> None:
        self.services, self.review, self.tz = services, review, tz
        self.expected, self.kinds, self.rule, self.retry_s = expected, kinds, rule, retry_s
        self._todo: queue.Queue[Mark] = queue.Queue()
        self._done: list[Point] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, m: Mark) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="quantrac-review-history")
            self._thread.start()
        self._todo.put(m)

    def done(self) -> list[Point]:
        with self._lock:
            out, self._done = self._done, []
        return out

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                m = self._todo.get(timeout=0.2)
            except queue.Empty:
                continue
            while not self._stop.is_set():
                try:
                    points = recompute(self.services(), m, self.kinds.get(m.station, ""),
                                       self.review, self.tz, self.expected.get(m.station, 12),
                                       self.rule)
                except Exception as e:  # the database: the flag waits, nothing is lost
                    log.error("review #%d: recomputing %s %s from the stored readings "
                              "failed, retrying: %s", m.id, m.station, m.param, e)
                    self._stop.wait(self.retry_s)
                    continue
                log.info("review #%d: %d means and indices of %s recomputed from the stored "
                         "readings", m.id, len(points), m.station)
                with self._lock:
                    self._done += points
                break
