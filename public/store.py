"""Everything the public side reads from InfluxDB, with the read-only account only, through
the allowlist, and cached: `latest()` for the map and the latest-values endpoint (one set of
queries for every station per `ttl_s`), `history()` for a station's hourly or daily series."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.retention import shipped
from collector.review import marks
from public import allowlist, facts
from public.cache import Cache
from quantrac_common import influxql

READ_KEYS = ("QUANTRAC_INFLUX_URL", "QUANTRAC_INFLUX_DB", "QUANTRAC_INFLUX_READ_USER",
             "QUANTRAC_INFLUX_READ_PASSWORD")
LATEST_TTL_S = 15.0
HISTORY_TTL_S = 60.0
WINDOW = "3d"  # how far back "latest" looks; older is "no recent data"


def read_only(env: Mapping[str, str]) -> dict[str, str]:
    """The services env cut to the read-only account: the server never holds a password that
    writes or administers the database."""
    missing = [k for k in READ_KEYS if not env.get(k)]
    if missing:
        raise ValueError(f"services.env lacks {', '.join(missing)}: run `quantrac services up`")
    return {k: env[k] for k in READ_KEYS}


class Store:
    def __init__(self, env: Mapping[str, str], run_dir: Path | None,
                 clock: Callable[[], float] = time.time, latest_ttl_s: float = LATEST_TTL_S,
                 report_s: int | None = None):
        """`report_s`: the stations' report period when it is not their profile's (the demo
        runs them faster): data older than two of them is stale."""
        self.env = read_only(env)
        self.reg = facts.network()
        self.tz = ZoneInfo(self.reg.timezone)
        self.clock = clock
        self.latest_ttl_s = latest_ttl_s
        self.cache = Cache()
        self.review = marks.Review(marks.path(run_dir)) if run_dir else None
        self.recording: list[str] | None = None
        self.report_s = report_s
        self._generation = 0

    # -- queries ---------------------------------------------------------------------------
    def select(self, measurement: str, fields: tuple[str, ...], where: str,
               tail: str = "") -> list[dict]:
        allowlist.check(measurement, fields)
        sel = ", ".join(f if f == "*" or "(" in f else influxql.quote_ident(f) for f in fields)
        q = (f"SELECT {sel} FROM {shipped().qualified(measurement)} WHERE {where} "
             f"{tail}").strip()
        return [allowlist.keep(measurement, r) for r in influxql.rows(self._query(q))]

    def _query(self, q: str) -> list[dict]:
        if self.recording is not None:
            self.recording.append(q)
        return influxql.query(self.env, q)

    def latest_queries(self) -> list[str]:
        """The InfluxQL statements behind one refresh of `latest()` (what `quantrac bench
        public` runs directly, beside the cached endpoint)."""
        self.recording = []
        try:
            self._latest()
            return self.recording
        finally:
            self.recording = None

    def select_last(self, measurement: str, field: str, where: str, group: str) -> list[dict]:
        """`last(field)` per group, the column named as the field."""
        allowlist.check(measurement, (field,))
        q = (f"SELECT last({influxql.quote_ident(field)}) AS {influxql.quote_ident(field)} "
             f"FROM {shipped().qualified(measurement)} WHERE {where} GROUP BY {group}")
        return [allowlist.keep(measurement, r) for r in influxql.rows(self._query(q))]

    # -- review ----------------------------------------------------------------------------
    def _refresh_review(self) -> None:
        if self.review is not None:
            self.review.refresh()

    def invalid(self, station: str, param: str, t: int) -> bool:
        return self.review is not None and self.review.invalid(station, param, t) is not None

    def preliminary(self, station: str, t: int) -> bool:
        """Not yet in a day the department approved (`quantrac data approve`)."""
        if self.review is None:
            return True
        # a value stamped at local midnight closes the day before
        day = datetime.fromtimestamp(t - 1, self.tz).date().isoformat()
        return not self.review.approved(station, day)

    # -- latest ----------------------------------------------------------------------------
    def latest(self) -> dict[str, dict]:
        return self.latest_versioned()[1]

    def latest_cached(self) -> tuple[int, dict[str, dict]] | None:
        """The cached latest values if fresh (no database, no waiting), else None."""
        return self.cache.peek("latest")

    def latest_versioned(self) -> tuple[int, dict[str, dict]]:
        """(generation, latest): what is rendered from `latest` is cached under its
        generation, so a page never outlives the values it shows."""
        def compute() -> tuple[int, dict[str, dict]]:
            self._generation += 1
            return self._generation, self._latest()
        return self.cache.get("latest", self.latest_ttl_s, compute)

    def _latest(self) -> dict[str, dict]:
        self._refresh_review()
        now = self.clock()
        out: dict[str, dict] = {s.id: {"station": s.id, "last_seen": None, "online": None,
                                       "values": {}} for s in self.reg.stations}
        seen = self.select_last("reading", "value", "time > now() - 1d", '"station"')
        for r in seen:
            if r.get("station") in out:
                out[r["station"]]["last_seen"] = r["time"]
        for r in self.select_last("device", "online", f"\"message\" = 'status' AND time > "
                                  f"now() - {WINDOW}", '"station"'):
            if r.get("station") in out:
                out[r["station"]]["online"] = bool(r.get("online"))
        means = self.select("mean", ("value", "complete"), "\"period\" = '1h' AND \"complete\""
                            " = true AND time > now() - 1d",
                            'GROUP BY "station", "param", "unit" ORDER BY time DESC LIMIT 3')
        for r in means:
            st, param = r.get("station"), r.get("param")
            if st not in out or r.get("value") is None or self.invalid(st, param, r["time"]):
                continue
            vals = out[st]["values"]
            if param not in vals or vals[param]["time"] < r["time"]:
                vals[param] = {"value": round(float(r["value"]), 3), "unit": r.get("unit", ""),
                               "time": r["time"],
                               "preliminary": self.preliminary(st, r["time"])}
        for r in self.select("aqi", ("*",), f"\"period\" = 'hour' AND time > now() - {WINDOW}",
                             'GROUP BY "station" ORDER BY time DESC LIMIT 3'):
            st = r.get("station")
            if st not in out or r.get("aqi") is None or "aqi" in out[st]:
                continue
            subs = {k[4:]: int(v) for k, v in r.items() if k.startswith("sub_") and v is not None
                    and not self.invalid(st, k[4:], r["time"])}
            out[st]["aqi"] = {"value": int(r["aqi"]), "band": r.get("band"),
                              "dominant": r.get("dominant"), "sub": subs, "time": r["time"],
                              "preliminary": self.preliminary(st, r["time"])}
        for r in self.select("wqi", ("*",), f"time > now() - {WINDOW}",
                             'GROUP BY "station" ORDER BY time DESC LIMIT 1'):
            st = r.get("station")
            if st in out:
                out[st]["wqi"] = {k: r.get(k) for k in ("status", "wqi", "class",
                                                        "indicative_wqi", "indicative_class")
                                  if r.get(k) is not None} | {"time": r["time"]}
        for st in out.values():
            self._judge(st, now)
        return out

    def _judge(self, doc: dict, now: float) -> None:
        sid = doc["station"]
        station = self.reg.get(sid)
        period = self.report_s or facts.report_s(sid)
        seen = doc["last_seen"]
        doc["age_s"] = None if seen is None else max(0, int(now - seen))
        doc["stale"] = seen is None or now - seen > 2 * period
        doc["report_s"] = period
        if facts.is_air(station):
            return
        exceeded, judged = [], 0
        for lim in facts.hourly_limits(sid):
            v = doc["values"].get(lim.param)
            if v is None or v["unit"] != lim.unit:
                continue
            judged += 1
            if (lim.above is not None and v["value"] > lim.above) or \
                    (lim.below is not None and v["value"] < lim.below):
                exceeded.append(lim.param)
        doc["water"] = {"status": "exceeds" if exceeded else "within" if judged else "no_data",
                        "exceeded": exceeded, "regulation": station.regulation,
                        "column": station.column}

    # -- history ---------------------------------------------------------------------------
    def history(self, station: str, param: str, period: str, start: int, end: int,
                limit: int, offset: int) -> tuple[list[dict], bool]:
        """(points oldest first, more follow). `period`: `hour` or `day`."""
        key = ("history", station, param, period, start, end, limit, offset)
        return self.cache.get(key, HISTORY_TTL_S, lambda: self._history(
            station, param, period, start, end, limit, offset))

    def _history(self, station: str, param: str, period: str, start: int, end: int,
                 limit: int, offset: int) -> tuple[list[dict], bool]:
        self._refresh_review()
        where = (f"\"station\" = {influxql.quote_string(station)} AND time > {start}s "
                 f"AND time <= {end}s")
        tail = f"ORDER BY time ASC LIMIT {limit + 1} OFFSET {offset}"
        if param == "aqi":
            rows = self.select("aqi", ("aqi", "band", "dominant"), where +
                               f" AND \"period\" = '{period}'", tail)
            pts = [{"time": r["time"], "value": int(r["aqi"]), "band": r.get("band"),
                    "dominant": r.get("dominant")} for r in rows if r.get("aqi") is not None]
        else:
            mp = "1h" if period == "hour" else "24h"
            rows = self.select("mean", ("value", "complete", "provisional"), where +
                               f" AND \"param\" = {influxql.quote_string(param)} AND "
                               f"\"period\" = '{mp}' AND \"complete\" = true",
                               'GROUP BY "unit" ' + tail)
            pts = [{"time": r["time"], "value": round(float(r["value"]), 3),
                    "unit": r.get("unit", "")} for r in rows
                   if r.get("value") is not None and r.get("complete")
                   and not self.invalid(station, param, r["time"])]
            if period == "day":  # a day still in progress is a running estimate: say so
                prov = {r["time"]: bool(r.get("provisional")) for r in rows}
                for p in pts:
                    p["provisional"] = prov.get(p["time"], False)
        more = len(rows) > limit
        if more:
            pts = [p for p in pts if p["time"] != rows[-1]["time"]]
        for p in pts:
            p["preliminary"] = self.preliminary(station, p["time"])
        return pts, more

    def forecast(self, station: str) -> dict:
        """The latest issue of the station's VN_AQI forecast (forecast/forecaster.py):
        {"issued", "model", "hourly": the next 72 h, "daily": the local days it reaches},
        each point {time, value, lo, hi}; {} before any forecast exists."""
        return self.cache.get(("forecast", station), HISTORY_TTL_S,
                              lambda: self._forecast(station))

    def _forecast(self, station: str) -> dict:
        where = (f"\"station\" = {influxql.quote_string(station)} AND \"param\" = 'vn_aqi'")
        # the latest issue reaches furthest ahead, so its last point carries its `issued`
        last = self.select_last("forecast", "issued", where + " AND time > now() - 3d",
                                '"station"')
        if not last or last[0].get("issued") is None:
            return {}
        issued = int(last[0]["issued"])
        now = int(self.clock())
        rows = self.select("forecast", ("value", "lo", "hi", "issued"),
                           where + f" AND \"issued\" = {issued} AND time > {issued}s",
                           'GROUP BY "period", "model" ORDER BY time ASC')
        out: dict = {"issued": issued, "model": "", "hourly": [], "daily": []}
        for r in rows:
            if r.get("value") is None:
                continue
            p = {"time": r["time"], "value": int(round(float(r["value"])))}
            if r.get("lo") is not None and r.get("hi") is not None:
                p |= {"lo": int(round(float(r["lo"]))), "hi": int(round(float(r["hi"])))}
            out["model"] = r.get("model", "")
            if r.get("period") == "1h" and now < r["time"] <= now + 72 * 3600:
                out["hourly"].append(p)
            elif r.get("period") == "24h" and r["time"] > now:
                out["daily"].append(p)
        return out if out["hourly"] or out["daily"] else {}

    def window(self, hours: int) -> dict[tuple[str, str], list[dict]]:
        """Every station's hourly means and hourly VN_AQI of the last `hours`, valid only,
        oldest first: what the SensorThings view's Observations hold (two queries)."""
        self._refresh_review()
        out: dict[tuple[str, str], list[dict]] = {}
        where = f"time > now() - {int(hours)}h"
        for r in self.select("mean", ("value", "complete"), where + " AND \"period\" = '1h'",
                             'GROUP BY "station", "param"'):
            st, param = r.get("station"), r.get("param")
            if r.get("value") is None or not r.get("complete") or self.invalid(st, param,
                                                                              r["time"]):
                continue
            out.setdefault((st, param), []).append(
                {"time": r["time"], "value": round(float(r["value"]), 3),
                 "preliminary": self.preliminary(st, r["time"])})
        for r in self.select("aqi", ("aqi",), where + " AND \"period\" = 'hour'",
                             'GROUP BY "station"'):
            if r.get("aqi") is not None:
                out.setdefault((r["station"], "aqi"), []).append(
                    {"time": r["time"], "value": int(r["aqi"]),
                     "preliminary": self.preliminary(r["station"], r["time"])})
        return out
