"""What a bulletin reads from InfluxDB, with InfluxQL and the read-only user (as open data):
one station's readings counts, means, indices, device faults and alerts over a span.

Times are epoch seconds; a span holds what is stamped after `after` up to and including
`until` (record and period times mark the END of their period).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collector.report import noise
from collector.retention import shipped
from quantrac_common import influxql


@dataclass
class StationData:
    valid: dict[str, int] = field(default_factory=dict)  # param -> valid records
    records: dict[str, int] = field(default_factory=dict)  # param -> every record
    means: list[dict[str, Any]] = field(default_factory=list)  # param, period, unit, time, …
    aqi: list[dict[str, Any]] = field(default_factory=list)  # period, time, aqi, band, …
    faults: list[dict[str, Any]] = field(default_factory=list)  # param, time, status
    alerts: list[dict[str, Any]] = field(default_factory=list)  # rule, time, event, text…
    noise: list[dict[str, Any]] = field(default_factory=list)  # judged periods (noise.py)


def _where(station: str, after: int, until: int) -> str:
    return (f'"station" = {influxql.quote_string(station)} AND time > {after}s '
            f"AND time <= {until}s")


def _merged(ranges: list[tuple[int, int]], after: int, until: int) -> list[tuple[int, int]]:
    """(start, end] ranges clipped to (after, until], overlapping ones joined: each flagged
    record is taken off the valid count once."""
    out: list[tuple[int, int]] = []
    for start, end in sorted((max(a, after), min(b, until)) for a, b in ranges):
        if end <= start:
            continue
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _q(env: dict[str, str], q: str, timeout: float) -> list[dict[str, Any]]:
    return influxql.rows(influxql.query(env, q, timeout=timeout))


VALID = '"status" = 0 AND "qc" <> 4 AND "qc" <> 9'


def station(env: dict[str, str], station_id: str, after: int, until: int,
            timeout: float = 60.0,
            flagged: dict[str, list[tuple[int, int]]] | None = None) -> StationData:
    """Everything the bulletin shows of one station over the span. `flagged`: per parameter
    the (start, end] ranges an operator flagged invalid."""
    w = _where(station_id, after, until)
    d = StationData()
    # valid as the aggregate stage counts it: a value, measuring, QC neither fail nor missing,
    # not flagged invalid by an operator
    for r in _q(env, f'SELECT count("value") FROM "reading" WHERE {w} AND {VALID} '
                     f'GROUP BY "param"', timeout):
        d.valid[r["param"]] = int(r["count"])
    for param, ranges in (flagged or {}).items():
        for start, end in _merged(ranges, after, until):
            for r in _q(env, f'SELECT count("value") FROM "reading" WHERE '
                             f'{_where(station_id, start, end)} AND "param" = '
                             f'{influxql.quote_string(param)} AND {VALID}', timeout):
                d.valid[param] = d.valid.get(param, 0) - int(r["count"])
    for r in _q(env, f'SELECT count("status") FROM "reading" WHERE {w} GROUP BY "param"',
                timeout):
        d.records[r["param"]] = int(r["count"])
    mean = shipped().qualified("mean")
    for r in _q(env, f'SELECT "value", "complete", "provisional" FROM {mean} WHERE {w} '
                     f'GROUP BY "param", "period", "unit"', timeout):
        if r.get("value") is not None:
            # a day still in progress (provisional) is a running estimate, never judged
            d.means.append({"param": r["param"], "period": r["period"], "unit": r["unit"],
                            "time": int(r["time"]), "value": float(r["value"]),
                            "complete": bool(r.get("complete"))
                            and not r.get("provisional")})
    aqi = shipped().qualified("aqi")
    for r in _q(env, f'SELECT "aqi", "band", "dominant", "complete" FROM {aqi} WHERE {w} '
                     f'GROUP BY "period"', timeout):
        if r.get("aqi") is not None:
            d.aqi.append({"period": r["period"], "time": int(r["time"]), "aqi": int(r["aqi"]),
                          "band": r.get("band") or "", "dominant": r.get("dominant") or ""})
    for r in _q(env, f'SELECT "status" FROM "reading" WHERE {w} AND "status" > 0 '
                     f'GROUP BY "param"', timeout):
        d.faults.append({"param": r["param"], "time": int(r["time"]),
                         "status": int(r["status"])})
    alert = shipped().qualified("alert")
    for r in _q(env, f'SELECT "event", "state", "value", "limit", "unit", "text", "text_en" '
                     f'FROM {alert} WHERE {w} GROUP BY "rule", "severity"', timeout):
        d.alerts.append({k: r.get(k) for k in ("rule", "severity", "event", "state", "value",
                                               "limit", "unit", "text", "text_en")}
                        | {"time": int(r["time"])})
    d.noise = noise.fetch(env, station_id, after, until, timeout)
    for xs in (d.means, d.aqi, d.faults, d.alerts):
        xs.sort(key=lambda x: (x["time"], str(x.get("param", x.get("rule", "")))))
    return d
