"""Hourly `mean` points → `aqi` (VN_AQI, Decision 1459) and `wqi` (VN_WQI, 1460).

Runs after the aggregate stage and reads the 1-hour means it appended to the batch. It keeps
each station's complete hourly means for `keep_hours` (an incomplete hour counts as missing,
the way the decision treats a missing hour). When an hour changes it recomputes:

- air: the hourly AQI of that hour and of the 11 after it (their NowCast includes it), and the
  daily AQI of its local day and of the next one when the hour is within the 7 hours that
  lead into it (the O3 8-hour means);
- surface water only (Decision 1460; none for tap, waste or sea water): the VN_WQI of that
  hour from pH, DO (with the water temperature) and NH4: the official `wqi` when the
  data-sufficiency rule is met, else `status=not_computed` with `why` and `indicative_wqi`.

Gas means are converted to µg/Nm³ first; the maths is `collector/domain/aqi.py` and `wqi.py`.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

import boards
from collector.contracts import HOUR_S, Batch, Point
from collector.domain import aqi, wqi
from collector.plugins import Env, Plugin, register
from collector.processors.aggregate.means import DAY_HOURS, ROLLING_HOURS, day_start
from collector.processors.indices.options import IndicesOptions
from collector.processors.units.convert import UnitError, to_canonical

log = logging.getLogger("quantrac.collector.indices")
STATE_VERSION = 1
NOWCAST_HOURS = 12
WQI_INPUTS = ("ph", "do", "temp", "nh4")


class IndicesProcessor:
    name = "indices"

    def __init__(self, registry: str = "phu-quoc", keep_hours: int = 48) -> None:
        reg = boards.registry(registry)
        self.tz = ZoneInfo(reg.timezone)
        # station -> channel -> the base parameter it counts as: one channel per base
        # (Station.chosen(): primary, else unrenamed, else first), so a second probe never
        # counts twice and a station whose only pH is `ph_2` still has a pH
        self.channels = {st.id: {p: b for b, p in st.chosen().items()} for st in reg.stations}
        self.keep_s = int(keep_hours) * HOUR_S
        # station -> param -> hour start -> complete hourly mean (µg/m³ for gases) or None
        self.hours: dict[str, dict[str, dict[int, float | None]]] = {}
        self.kinds: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()

    def process(self, batch: Batch) -> Batch:
        touched: dict[str, set[int]] = {}
        before: dict[str, int] = {}
        for p in batch.points:
            if p.measurement != "mean" or p.tags.get("period") != "1h":
                continue
            station, param = p.tags["station"], p.tags["param"]
            kind = p.tags.get("kind", "")
            if kind != "air" and wqi.refusal(kind) is not None:
                continue  # VN_WQI is for surface water: none for tap, waste or sea water
            wanted = aqi.PARAMS if kind == "air" else WQI_INPUTS
            mine = self.channels.get(station)
            counted = param if mine is None else mine.get(param)
            if counted not in wanted:
                continue
            value = self._value(station, param, p)
            if station not in before and any(self.hours.get(station, {}).values()):
                before[station] = self._newest(station)
            self.kinds[station] = kind
            self.hours.setdefault(station, {}).setdefault(counted, {})[p.time - HOUR_S] = value
            touched.setdefault(station, set()).add(p.time - HOUR_S)
        for station, hours in touched.items():
            if station in before and self._newest(station) > before[station]:
                hours.add(before[station])  # that hour is over now: its index becomes final
            if self.kinds[station] == "air":
                batch.points.extend(self._air(station, hours))
            else:
                batch.points.extend(self._water(station, hours))
            self._evict(station)
        return batch

    def state(self) -> dict[str, Any]:
        return {"v": STATE_VERSION, "kinds": dict(self.kinds), "hours": {
            st: {p: {str(h): v for h, v in sorted(hs.items())} for p, hs in params.items()}
            for st, params in self.hours.items()}}

    def restore(self, state: dict[str, Any]) -> None:
        try:
            if state.get("v") != STATE_VERSION:
                raise ValueError(f"state version {state.get('v')!r}, expected {STATE_VERSION}")
            hours = {st: {p: {int(h): None if v is None else float(v) for h, v in hs.items()}
                          for p, hs in params.items()}
                     for st, params in state["hours"].items()}
            kinds = {str(k): str(v) for k, v in state["kinds"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            log.warning("indices: saved state unreadable (%s); starting empty", e)
            return
        self.hours, self.kinds = hours, kinds

    # -- internals ---------------------------------------------------------------------------

    def _value(self, station: str, param: str, p: Point) -> float | None:
        x = p.fields.get("value")
        if not p.fields.get("complete") or not isinstance(x, float):
            return None
        if self.kinds.get(station, p.tags.get("kind")) != "air":
            return x
        try:
            return to_canonical(param, p.tags.get("unit", ""), x)
        except UnitError as e:
            if (station, param) not in self._warned:
                self._warned.add((station, param))
                log.warning("indices: %s: %s; left out of the AQI", station, e)
            return None

    def _newest(self, station: str) -> int:
        return max(max(hs) for hs in self.hours[station].values() if hs)

    def _series(self, station: str, end: int, n: int) -> dict[str, list[float | None]]:
        """Each parameter's hourly means for the n hours ending with hour start `end`."""
        return {p: [hs.get(end - i * HOUR_S) for i in range(n - 1, -1, -1)]
                for p, hs in self.hours[station].items()}

    def _air(self, station: str, touched: set[int]) -> list[Point]:
        newest = self._newest(station)
        floor = newest - self.keep_s
        out: dict[tuple[str, int], Point] = {}
        for h in sorted(touched):
            for i in range(NOWCAST_HOURS):
                end = h + i * HOUR_S
                if end <= newest and ("hour", end) not in out:
                    res = aqi.hourly_aqi(self._series(station, end, NOWCAST_HOURS))
                    out[("hour", end)] = _aqi_point(station, "hour", end + HOUR_S, res,
                                                    self._final(station, end, newest))
            for day in {day_start(h, self.tz), day_start(h + (ROLLING_HOURS - 1) * HOUR_S,
                                                           self.tz)}:
                if day < floor or day > newest or ("day", day) in out:
                    continue
                last = day + (DAY_HOURS - 1) * HOUR_S
                res = aqi.daily_aqi(self._series(station, last, DAY_HOURS + ROLLING_HOURS - 1))
                out[("day", day)] = _aqi_point(station, "day", last + HOUR_S, res,
                                               self._final(station, last, newest))
        return [p for p in out.values() if len(p.fields) > 1]

    def _final(self, station: str, hour: int, newest: int) -> bool:
        """An index ending with `hour` is final once that hour is over (a later hour has
        data) or every parameter's mean of it is complete. Before that, a mean still filling
        counts as missing and the index can swing (PM alone while SO2 fills up), so alerts
        must not judge it (`complete=false`)."""
        return hour < newest or all(hs.get(hour) is not None
                                    for hs in self.hours[station].values())

    def _water(self, station: str, touched: set[int]) -> list[Point]:
        out = []
        for h in sorted(touched):
            values = {p: hs.get(h) for p, hs in self.hours[station].items()}
            if values.get("temp") is None:
                values.pop("do", None)  # DO % saturation needs the water temperature
            values = {p: v for p, v in values.items() if v is not None}
            try:
                res = wqi.wqi(values)
            except ValueError as e:  # a mean outside the decision's ranges (pH 15, 60 °C)
                log.warning("indices: %s hour %d: no WQI (%s)", station, h + HOUR_S, e)
                continue
            if res.wqi is None and res.indicative is None:
                continue
            fields: dict[str, float | int | bool | str] = {"status": res.status}
            if res.wqi is not None:  # the official index: only with sufficient data
                fields.update(wqi=int(res.wqi), **{"class": str(res.cls)})
            else:
                # its own fields, so nothing reading `wqi` (e-gov, dashboards) takes it for
                # the official index; not `indicative`, which older databases hold as a bool
                fields.update(why=res.why, indicative_wqi=int(res.indicative),
                              indicative_class=str(res.indicative_cls))
            fields.update({f"sub_{k}": float(v) for k, v in res.sub.items()})
            out.append(Point("wqi", {"station": station}, fields, h + HOUR_S))
        return out

    def _evict(self, station: str) -> None:
        floor = self._newest(station) - self.keep_s
        for hs in self.hours[station].values():
            for h in [h for h in hs if h < floor]:
                del hs[h]


def _aqi_point(station: str, period: str, end: int, res: aqi.AqiResult,
               complete: bool) -> Point:
    fields: dict[str, float | int | bool | str] = {"complete": complete}
    if res.aqi is not None:
        key, _vi, _en, _rgb = aqi.band(res.aqi)
        fields.update(aqi=int(res.aqi), dominant=str(res.dominant), band=key)
    fields.update({f"sub_{p}": int(v) for p, v in res.sub.items()})
    return Point("aqi", {"station": station, "period": period}, fields, end)


def build(opts: IndicesOptions, env: Env) -> IndicesProcessor:
    return IndicesProcessor(env.registry, opts.keep_hours)


register(Plugin("processor", "indices", IndicesOptions, build, after=("aggregate",)))
