"""A station's hourly means from InfluxDB (InfluxQL, the read-only user), as a Series.

The collector stamps an hourly mean at the END of its hour (docs/influxdb-schema.md), the same
label the Hanoi file uses, so the models see the same grid in the backtest and in service.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from collector.retention import shipped
from forecast.series import Series
from quantrac_common import influxql


def hourly(env: dict[str, str], station: str, params: tuple[str, ...], until: int,
           days: int, timeout: float = 30.0) -> dict[str, Series]:
    """{param: Series} of the complete 1 h means stamped in (until - days, until]; `until` is
    a whole hour (epoch s). A param without any mean is absent."""
    after = until - days * 86400
    mean = shipped().qualified("mean")
    names = " OR ".join(f'"param" = {influxql.quote_string(p)}' for p in params)
    q = (f'SELECT "value", "complete" FROM {mean} WHERE "station" = '
         f"{influxql.quote_string(station)} AND ({names}) AND \"period\" = '1h' "
         f"AND time > {after}s AND time <= {until}s GROUP BY \"param\"")
    n = days * 24
    start = datetime.fromtimestamp(after + 3600, UTC)
    grids: dict[str, np.ndarray] = {}
    for r in influxql.rows(influxql.query(env, q, timeout=timeout)):
        # an incomplete hour (too few records) is missing, as the AQI treats it
        if r.get("value") is None or r.get("complete") is False:
            continue
        i = (int(r["time"]) - after) // 3600 - 1
        if 0 <= i < n:
            grids.setdefault(r["param"], np.full(n, np.nan))[i] = float(r["value"])
    return {p: Series(start, g) for p, g in grids.items()}


def fan_query(station: str, param: str, when: str = "time > now() - 7d") -> str:
    """The forecast fan beside the measured series, as a dashboard panel reads it: for each
    hour, the latest forecast made for it (past hours: the +1 h forecast, future hours: the
    current issue), central value and 10th–90th percentile. `max("issued")` is a selector, so
    the other fields come from the same point."""
    fc = shipped().qualified("forecast")
    return (f'SELECT max("issued") AS "issued", "value" AS "forecast", "lo" AS "p10", '
            f'"hi" AS "p90" FROM {fc} WHERE "station" = {influxql.quote_string(station)} '
            f"AND \"param\" = {influxql.quote_string(param)} AND \"period\" = '1h' "
            f"AND {when} GROUP BY time(1h) fill(none)")
