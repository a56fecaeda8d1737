"""What the public tests share besides fixtures, under a name of its own: a test module that
imports `conftest` gets whichever conftest.py the whole run imported first."""

from __future__ import annotations

import urllib.error
import urllib.request

# station -> PM2.5 level (µg/m³) giving one VN_AQI band each; pq-air-04 stops 2 h ago: stale
AIR = {"pq-air-01": 12.0, "pq-air-02": 40.0, "pq-air-03": 70.0, "pq-air-04": 30.0}
STALE = "pq-air-04"


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, lower-cased headers and body of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()
