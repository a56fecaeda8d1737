"""An external forecast feed: a public air-quality or weather forecast API answering JSON with
hourly arrays (`{"hourly": {"time": [...], "pm2_5": [...], ...}}`, the shape Open-Meteo's
air-quality and weather APIs use), read into {variable: {epoch s: value}}.

`hourly.time` is ISO 8601 local to the answer's `utc_offset_seconds` (0 when absent, as with
`timezone=GMT`); a value is taken for the hour ending at its time, the label the collector's
means use. The URL may carry an API key, so it must be https (http only to this machine) and
a redirect is never followed (collector/delivery/safe_transport.py).
"""

from __future__ import annotations

import json
import math
import re
import string
import urllib.error
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from collector.delivery.safe_transport import https_url, is_redirect, opener

MAX_BYTES = 5_000_000
FIELDS = ("station", "lat", "lon")  # what a feed URL template may name
VARIABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class FeedError(ValueError):
    """The feed could not be fetched or its answer is not what it must be; says which."""


def parse(doc: object, variables: tuple[str, ...]) -> dict[str, dict[int, float]]:
    """The `variables` of one answer; a null value is a missing hour."""
    if not isinstance(doc, dict) or not isinstance(doc.get("hourly"), dict):
        raise FeedError("the answer has no 'hourly' object")
    hourly = doc["hourly"]
    times = hourly.get("time")
    if not isinstance(times, list) or not times:
        raise FeedError("'hourly.time' is missing or empty")
    offset = doc.get("utc_offset_seconds", 0)
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise FeedError(f"'utc_offset_seconds' {offset!r} is not an integer")
    stamps = []
    for i, t in enumerate(times):
        try:
            local = datetime.fromisoformat(str(t))
        except ValueError:
            raise FeedError(f"hourly.time[{i}] {t!r} is not an ISO 8601 time") from None
        if local.tzinfo is None:
            local = local.replace(tzinfo=UTC) - timedelta(seconds=offset)
        stamps.append(int(local.timestamp()))
    out: dict[str, dict[int, float]] = {}
    for var in variables:
        values = hourly.get(var)
        if values is None:
            raise FeedError(f"'hourly.{var}' is missing (the answer has: "
                            f"{', '.join(k for k in hourly if k != 'time')})")
        if not isinstance(values, list) or len(values) != len(stamps):
            raise FeedError(f"'hourly.{var}' is not a list as long as 'hourly.time' "
                            f"({len(stamps)})")
        series = {}
        for i, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise FeedError(f"hourly.{var}[{i}] {v!r} is not a number")
            series[stamps[i]] = float(v)
        out[var] = series
    return out


def redacted(url: str) -> str:
    """`url` without what may carry a key: its query and any user:password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def fetch(url: str, variables: tuple[str, ...], timeout_s: float = 20.0
          ) -> dict[str, dict[int, float]]:
    shown = redacted(url)  # what an error names: logs and terminals never get the API key
    problem = https_url("feed url", shown, "the feed's API key")
    if problem:
        raise FeedError(problem)
    try:
        with opener().open(url, timeout=timeout_s) as r:
            body = r.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        if is_redirect(e.code):
            raise FeedError(f"{shown}: answered {e.code} to {e.headers.get('Location')!r}; "
                            "redirects are not followed, set the final URL") from None
        raise FeedError(f"{shown}: answered {e.code} {e.reason}") from None
    except OSError as e:
        raise FeedError(f"{shown}: unreachable ({e})") from None
    if len(body) > MAX_BYTES:
        raise FeedError(f"{shown}: the answer is larger than {MAX_BYTES} bytes")
    try:
        doc = json.loads(body)
    except ValueError as e:
        raise FeedError(f"{shown}: the answer is not JSON ({e})") from None
    try:
        return parse(doc, variables)
    except FeedError as e:
        raise FeedError(f"{shown}: {e}") from None


def aligned(series: dict[int, float], issued: int, horizons: int) -> list[float]:
    """The feed's value for each target hour issued + 1 … horizons h (NaN where it has none):
    what `Table.pairs(feed=…)` takes."""
    return [series.get(issued + h * 3600, math.nan) for h in range(1, horizons + 1)]


def on_grid(series: dict[int, float], hour0: int, n: int) -> np.ndarray:
    """The feed's values on a Series grid: hour `i` is the hour ending at (hour0 + i) h since
    the epoch (the collector's label, and the feed's), for i in 0 … n - 1; NaN where the feed
    has none. What `Table(feed=…)` takes, the grid reaching past the origin by the horizons."""
    t = (hour0 + np.arange(n)) * 3600
    return np.array([series.get(int(x), math.nan) for x in t], dtype=np.float64)


@dataclass(frozen=True)
class FeedConfig:
    """Where a station's external forecast comes from: `url` a template that may name
    `{station}`, `{lat}` and `{lon}` (the registry's coordinates), `variables` the hourly
    arrays to read; each one becomes a feature `feed_<variable>` of every parameter's model."""

    url: str
    variables: tuple[str, ...]

    @classmethod
    def of(cls, url: str, variables: str | tuple[str, ...]) -> FeedConfig:
        """Checked at start: a template naming anything else, plain http off this machine,
        or a variable that is no identifier is a FeedError naming it."""
        names = tuple(v.strip() for v in (variables.split(",") if isinstance(variables, str)
                                          else variables) if v.strip())
        if not names:
            raise FeedError("feed variables: none given (e.g. pm2_5,pm10)")
        for v in names:
            if not VARIABLE.fullmatch(v):
                raise FeedError(f"feed variable {v!r} is not a name (letters, digits, _)")
        if len(set(names)) != len(names):
            raise FeedError(f"feed variables {','.join(names)}: one is named twice")
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(url) if f is not None}
        except ValueError as e:
            raise FeedError(f"feed url {redacted(url)!r}: {e}") from None
        unknown = used - set(FIELDS)
        if unknown:
            raise FeedError(f"feed url names {{{', '.join(sorted(unknown))}}}; it may name "
                            f"only {{station}}, {{lat}}, {{lon}}")
        problem = https_url("feed url", redacted(url.format(station="x", lat=0, lon=0)),
                            "the feed's API key")
        if problem:
            raise FeedError(problem)
        return cls(url, names)

    def url_for(self, station: str) -> str:
        fields: dict[str, object] = {"station": station}
        if "{lat}" in self.url or "{lon}" in self.url:
            import boards

            try:
                st = boards.registry().get(station)
            except boards.BoardsError as e:
                raise FeedError(f"feed url needs {station}'s coordinates: {e}") from None
            fields |= {"lat": st.lat, "lon": st.lon}
        return self.url.format(**fields)

    def fetch(self, station: str, timeout_s: float = 20.0) -> dict[str, dict[int, float]]:
        return fetch(self.url_for(station), self.variables, timeout_s)
