"""Readings → `mean` points: hourly, rolling 8-hour and local-day means with completeness.

The stage keeps, per (station, param, unit), the records of the last `keep_hours` hours
(bounded: the newest record's hour minus `keep_hours`). Whenever a batch touches an hour —
live, late or backfilled, each record at its own time — it recomputes that hour, the 8-hour
means ending in the 8 hours from it, and its local day, and appends them to `batch.points`;
writing a point again at the same series and time overwrites it in InfluxDB. A record older
than the window is stored as a reading but not aggregated (counted in `too_old`), so a mean
is never recomputed from part of its hours. The maths is in `means.py`.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

import boards
from collector.contracts import HOUR_S, QC_FAIL, Batch, Point, Reading, hour_of, retraction
from collector.domain.aqi import NOWCAST_HOURS
from collector.domain.aqi import PARAMS as AQI_PARAMS
from collector.plugins import Env, Plugin, register
from collector.processors.aggregate.combine import for_param
from collector.processors.aggregate.means import (
    DAY_HOURS,
    ROLLING_HOURS,
    Completeness,
    Mean,
    daily,
    day_start,
    expected_per_hour,
    hour_mean,
    rolling_8h,
    valid,
)
from collector.processors.aggregate.options import AggregateOptions
from collector.processors.aggregate.volume import (
    FLOW_PARAM,
    M3H_PER,
    VOLUME_PARAM,
    VOLUME_UNIT,
    Volume,
    daily_volume,
)
from collector.review.history import HistoryWorker
from collector.review.marks import FLAG, Mark, Review
from collector.review.marks import path as review_path

log = logging.getLogger("quantrac.collector.aggregate")
STATE_VERSION = 1
MEASUREMENT = "mean"
Key = tuple[str, str, str]  # station, param, unit


class _Series:
    """One (station, param, unit): records by hour start, and the hourly means they give."""

    __slots__ = ("kind", "hours", "means", "_newest")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.hours: dict[int, dict[int, tuple[float | None, bool]]] = {}
        self.means: dict[int, Mean] = {}
        self._newest: int | None = None  # max(hours), kept as hours are added: asked per record

    def add(self, h: int, t: int, record: tuple[float | None, bool]) -> None:
        if not self.hours or h > self.newest():
            self._newest = h
        self.hours.setdefault(h, {})[t] = record

    def newest(self) -> int:
        if self._newest is None:
            self._newest = max(self.hours)
        return self._newest


class AggregateProcessor:
    name = "aggregate"

    def __init__(self, registry: str = "phu-quoc", rule: Completeness | None = None,
                 keep_hours: int = 48, review: Review | None = None) -> None:
        reg = boards.registry(registry)
        self.tz = ZoneInfo(reg.timezone)
        self.rule = rule or Completeness()
        self.keep_s = int(keep_hours) * HOUR_S
        self.expected = {s.id: expected_per_hour(boards.profile(s.profile).get("report_s", 300))
                         for s in reg.stations}
        for s in reg.stations:
            unit = s.params().get(FLOW_PARAM)
            if unit is not None and unit not in M3H_PER:
                raise ValueError(f"aggregate: station {s.id} reports {FLOW_PARAM} in {unit!r}; "
                                 f"the daily volume needs one of {', '.join(M3H_PER)}")
        self.series: dict[Key, _Series] = {}
        self.too_old = 0
        self.review = review  # the operator's marks (collector/review/)
        self.applied = 0  # the newest mark id whose hours were recomputed
        self.history: HistoryWorker | None = None  # flags on hours older than the window
        self._applying = 0
        self._own: frozenset[str] | None = None  # a worker of several: its stations

    # -- Processor contract ----------------------------------------------------------------

    def process(self, batch: Batch) -> Batch:
        touched: dict[Key, set[int]] = {}
        before: dict[Key, int] = {}  # each touched series' newest hour before this batch
        old = 0
        for r in batch.readings:
            key = (r.station, r.param, r.unit)
            s = self.series.get(key)
            h = hour_of(r.time)
            if s is not None and s.hours and h < self._floor(s):
                old += 1
                continue
            if s is None:
                s = self.series[key] = _Series(r.kind)
            if key not in before and s.hours:
                before[key] = s.newest()
            s.add(h, int(r.time), self._record(r))
            touched.setdefault(key, set()).add(h)
        if old:
            self.too_old += old
            log.info("%d records older than the %d-hour window: stored, not aggregated",
                     old, self.keep_s // HOUR_S)
        for key, hours in touched.items():
            s = self.series[key]
            if key in before and day_start(before[key], self.tz) < day_start(s.newest(), self.tz):
                hours = hours | {before[key]}  # that day is over: its mean no longer provisional
            batch.points.extend(self._recompute(key, s, hours))
            self._evict(self.series[key])
        return batch

    # -- state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Records as [seconds into the hour, value] (a third element 1: failed QC): a full
        48-hour window of the whole network is a few MB, saved every few seconds."""
        return {"v": STATE_VERSION, "too_old": self.too_old, "review": self.applied, "series": [
            {"station": k[0], "param": k[1], "unit": k[2], "kind": s.kind,
             "hours": {str(h): [[t - h, v, 1] if f else [t - h, v]
                                for t, (v, f) in sorted(recs.items())]
                       for h, recs in sorted(s.hours.items())}}
            for k, s in sorted(self.series.items())]}

    def restore(self, state: dict[str, Any]) -> None:
        try:
            if state.get("v") != STATE_VERSION:
                raise ValueError(f"state version {state.get('v')!r}, expected {STATE_VERSION}")
            series: dict[Key, _Series] = {}
            for entry in state["series"]:
                s = _Series(str(entry["kind"]))
                for h, recs in entry["hours"].items():
                    s.hours[int(h)] = {int(h) + int(r[0]): (None if r[1] is None
                                                            else float(r[1]), len(r) > 2)
                                       for r in recs}
                for h in s.hours:
                    s.means[h] = self._hour(entry["station"], s, h, entry["param"])
                series[(entry["station"], entry["param"], entry["unit"])] = s
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            log.warning("aggregate: saved state unreadable (%s); starting empty", e)
            return
        self.series = series
        self.too_old = int(state.get("too_old", 0))
        self.applied = int(state.get("review", 0))
        log.info("aggregate: %d series restored", len(series))

    # -- the operator's review -------------------------------------------------------------

    def start_batch(self, now: float) -> Batch | None:
        """A batch of its own when the operator made new marks: a `review` point per mark
        (stored, read by e-gov) and every mean its flags change, recomputed without the
        flagged records; the stages after this one (indices, alerts) take it like any other.
        Hours already outside the window are left as they are (logged)."""
        if self.review is None:
            return None
        self.review.refresh()
        new = [m for m in self.review.marks if m.id > self.applied]
        if not new:
            return None
        batch = Batch([])
        for m in new:
            if self._own is not None and m.station not in self._own:
                continue  # another worker's station: that worker recomputes it
            batch.points.append(_review_point(m))
            if m.type == FLAG:
                batch.points.extend(self._invalidate(m))
        self._applying = max(m.id for m in new)
        if not batch.points:  # other workers' stations only: nothing to spool
            self.batch_done()
            return None
        return batch

    def own(self, stations: frozenset[str], leader: bool) -> None:
        """One worker of several: review marks of these stations only."""
        self._own = stations

    def batch_done(self) -> None:
        """Its own batch is in the spool: those marks are applied (kept in the state)."""
        self.applied = max(self.applied, self._applying)

    def _invalidate(self, m: Mark) -> list[Point]:
        points: list[Point] = []
        older = True  # no series in memory holds the flag's first hour
        for key, s in self.series.items():
            if key[0] != m.station or key[1] != m.param or not s.hours:
                continue
            touched = set()
            for h, recs in s.hours.items():
                for t, (_v, failed) in list(recs.items()):
                    # an hour already without these values is touched too: a mark tried
                    # again (its first batch never reached the spool) recomputes its means
                    if m.start < t <= m.end:
                        recs[t] = (None, failed)
                        touched.add(h)
            older = older and hour_of(m.start + 1) < self._floor(s)
            if touched:
                means = self._recompute(key, s, touched)
                points += [retraction(p.measurement, p.tags, p.time) for p in means]
                points += self._retract_indices(key, s, touched) + means
        if older:
            if self.history is not None:
                self.history.submit(m)  # from InfluxDB, off this thread: see tick()
            else:
                log.warning("review #%d: %s %s: hours older than the %d-hour window are not "
                            "recomputed", m.id, m.station, m.param, self.keep_s // HOUR_S)
        log.info("review #%d: %s %s invalid (%s), %d means recomputed", m.id, m.station,
                 m.param, m.reason, len(points))
        return points

    def _retract_indices(self, key: Key, s: _Series, touched: set[int]) -> list[Point]:
        """The stored VN_AQI points these hours enter (each hour's and the 11 after it, their
        days), retracted: the indices stage writes again those that still have a value."""
        if s.kind != "air" or key[1] not in AQI_PARAMS:
            return []
        newest, floor, station = s.newest(), self._floor(s), key[0]
        hours = {h + i * HOUR_S for h in touched for i in range(NOWCAST_HOURS)}
        days = {day_start(h + d, self.tz) for h in touched for d in (0, 7 * HOUR_S)}
        return ([retraction("aqi", {"station": station, "period": "hour"}, h + HOUR_S)
                 for h in sorted(hours) if h <= newest] +
                [retraction("aqi", {"station": station, "period": "day"},
                            d + DAY_HOURS * HOUR_S) for d in sorted(days) if floor <= d <= newest])

    def tick(self, now: float, stats: dict[str, Any]) -> list[Point]:
        """What the history worker recomputed from InfluxDB since the last tick."""
        return self.history.done() if self.history is not None else []

    def close(self) -> None:
        if self.history is not None:
            self.history.close()

    def _record(self, r: Reading) -> tuple[float | None, bool]:
        """(value if valid else None, failed QC): all a mean needs of one record. A record
        the operator flagged invalid is not valid, whatever its QC."""
        value, failed = _record(r)
        if value is not None and self.review is not None and \
                self.review.invalid(r.station, r.param, int(r.time)):
            return None, failed
        return value, failed

    # -- for status and metrics ------------------------------------------------------------

    def completeness(self, now: float) -> dict[str, dict[str, dict[str, int | bool]]]:
        """Per station and parameter, the last finished hour: {"n", "expected", "complete"}."""
        last = hour_of(int(now)) - HOUR_S
        out: dict[str, dict[str, dict[str, int | bool]]] = {}
        for (station, param, _unit), s in sorted(self.series.items()):
            m = s.means.get(last)
            n = m.n if m else 0
            expected = m.expected if m else self.expected.get(station, 12)
            out.setdefault(station, {})[param] = {
                "hour_end": last + HOUR_S, "n": n, "expected": expected,
                "complete": bool(m and m.complete)}
        return out

    # -- internals ---------------------------------------------------------------------------

    def _floor(self, s: _Series) -> int:
        """Hours before this are outside the window (never recomputed from what is left)."""
        return s.newest() - self.keep_s

    def _hour(self, station: str, s: _Series, h: int, param: str = "") -> Mean:
        values = [v for v, _failed in s.hours.get(h, {}).values()]
        return hour_mean(values, self.expected.get(station, 12), self.rule, for_param(param))

    def _recompute(self, key: Key, s: _Series, touched: set[int]) -> list[Point]:
        station, combine = key[0], for_param(key[1])
        for h in touched:
            s.means[h] = self._hour(station, s, h, key[1])
        newest, floor = s.newest(), self._floor(s)
        out: dict[tuple[str, int], Point] = {}
        for h in sorted(touched):
            recs = s.hours[h]
            out[("1h", h)] = _point(key, s.kind, "1h", h + HOUR_S, s.means[h], {
                "records": len(recs), "qc_fail": sum(1 for _v, f in recs.values() if f)})
            for i in range(ROLLING_HOURS):
                end = h + i * HOUR_S
                if end > newest or end - (ROLLING_HOURS - 1) * HOUR_S < floor:
                    continue
                out[("8h", end)] = _point(key, s.kind, "8h", end + HOUR_S,
                                          rolling_8h(s.means, end, self.rule, combine))
            start = day_start(h, self.tz)
            if start >= floor and ("24h", start) not in out:
                end = start + DAY_HOURS * HOUR_S
                out[("24h", start)] = _point(key, s.kind, "24h", end,
                                             daily(s.means, start, self.rule, combine),
                                             {"provisional": newest < end})
                if key[1] == FLOW_PARAM and key[2] in M3H_PER:
                    out[("volume", start)] = _volume_point(
                        station, s.kind, end, daily_volume(s.means, start, key[2], self.rule))
        return list(out.values())

    def _evict(self, s: _Series) -> None:
        floor = self._floor(s)
        for h in [h for h in s.hours if h < floor]:
            del s.hours[h]
            s.means.pop(h, None)


def _record(r: Reading) -> tuple[float | None, bool]:
    """(value if valid else None, failed QC) — all a mean needs of one record."""
    return (float(r.value) if valid(r.value, r.status, r.qc) else None,  # type: ignore[arg-type]
            r.qc == QC_FAIL)


def _review_point(m: Mark) -> Point:
    """The mark in the database (measurement `review`), at the time it was made."""
    fields: dict[str, float | int | bool | str] = {"id": m.id, "by": m.by, "reason": m.reason}
    if m.type == FLAG:
        fields.update(start=m.start, end=m.end)
    else:
        fields["day"] = m.day
    return Point("review", {"station": m.station, "type": m.type,
                            "param": m.param or "-"}, fields, m.at)


def _point(key: Key, kind: str, period: str, end: int, m: Mean,
           extra: dict[str, int | bool] | None = None) -> Point:
    station, param, unit = key
    fields: dict[str, float | int | bool | str] = {}
    if m.value is not None:
        fields["value"] = float(m.value)
    fields.update(n=m.n, expected=m.expected, complete=m.complete)
    fields.update(extra or {})
    return Point(MEASUREMENT, {"station": station, "kind": kind, "param": param, "unit": unit,
                               "period": period}, fields, end)


def _volume_point(station: str, kind: str, end: int, v: Volume) -> Point:
    """The day's discharge volume, beside the day's mean flow: param `volume`, unit `m3`."""
    fields: dict[str, float | int | bool | str] = {}
    if v.value is not None:
        fields["value"] = float(v.value)
    fields.update(measured=float(v.measured), n=v.n, expected=v.expected, complete=v.complete)
    return Point(MEASUREMENT, {"station": station, "kind": kind, "param": VOLUME_PARAM,
                               "unit": VOLUME_UNIT, "period": "24h"}, fields, end)


def build(o: AggregateOptions, env: Env) -> AggregateProcessor:
    p = AggregateProcessor(env.registry,
                           Completeness(o.hour_fraction, o.rolling_8h_hours, o.day_hours),
                           o.keep_hours, Review(review_path(env.run_dir)))
    assert p.review is not None
    kinds = {s.id: s.kind for s in boards.registry(env.registry).stations}
    p.history = HistoryWorker(env.services, p.review, p.tz, p.expected, kinds, p.rule)
    return p


register(Plugin("processor", "aggregate", AggregateOptions, build))
