"""Readings → InfluxDB through influxdb-client's synchronous v2 write API.

One `write()` is one attempt; what the HTTP answer means is decided here and returned as a
`WriteResult`, and the RunningSink wrapper owns waiting and retrying:

| answer                          | result                                                  |
|---------------------------------|---------------------------------------------------------|
| 2xx                             | accepted                                                |
| 400, 422                        | split in halves until the refused lines are found; those|
|                                 | are rejected with the server's message, the rest stored |
| 413                             | split in halves; a single line still too large: rejected|
| 429, 5xx, connection error      | kept, retry after Retry-After (or the back-off)         |
| 401, 403, 404, other 4xx        | kept, retry, logged as an operator error                |

Splitting on 400 matters on InfluxDB 1.x, which answers a batch with one bad line with 400 and
"partial write"; rewriting the good lines is harmless because a point rewritten at the same
series and time overwrites itself.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable

import urllib3
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from collector.contracts import Point, Reading, WriteResult, is_retraction
from collector.delivery.backoff import retry_after_s
from collector.plugins import Env, Plugin, register
from collector.retention import Retention
from collector.retention import shipped as shipped_retention
from collector.sinks.influxdb.line_protocol import MEASUREMENT, delete_statement, line
from collector.sinks.influxdb.options import InfluxOptions

log = logging.getLogger("quantrac.collector.influxdb")


class _Stop(Exception):
    """The server asked us to wait: the lines not yet written stay kept."""

    def __init__(self, retry_after: float, error: str, operator: bool) -> None:
        super().__init__(error)
        self.retry_after, self.error, self.operator = retry_after, error, operator


def server_message(body: object) -> str:
    """The `message` (v2) or `error` (1.x) of an error body, else its text, shortened."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = str(body or "").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        text = str(doc.get("message") or doc.get("error") or text)
    return text[:500]


class InfluxSink:
    name = "influxdb"

    def __init__(self, url: str, db: str, user: str, password: str, *,
                 retention: Retention | None = None, timeout_s: float = 10.0,
                 query_url: Callable[[], str] = lambda: "") -> None:
        self.url = url
        self.db = db
        self._login = (user, password)
        self.query_url = query_url  # the 1.x server's InfluxQL endpoint (retractions), asked
        # when first needed: the run folder's services.env, which a test's run folder lacks
        self.timeout_s = timeout_s
        self.retention = retention or shipped_retention()
        self._client = InfluxDBClient(url=url, token=f"{user}:{password}", org="-",
                                      timeout=int(timeout_s * 1000))
        self._api = self._client.write_api(write_options=SYNCHRONOUS)

    def _bucket(self, policy: str) -> str:
        return f"{self.db}/{policy}"

    def write(self, readings: list[Reading]) -> WriteResult:
        result = WriteResult()
        # one request per retention policy (collector/retention.json): readings stay in the
        # default one, means, indices and alerts go to the one kept for good
        batches: dict[str, tuple[list[str], list[int]]] = {}
        retract: list[tuple[int, str]] = []
        for i, r in enumerate(readings):
            if isinstance(r, Point) and is_retraction(r):
                retract.append((i, delete_statement(r)))
                continue
            try:
                text = line(r)
            except (ValueError, TypeError) as e:
                result.rejected.append((i, f"not writable: {e}"))
                continue
            measurement = r.measurement if isinstance(r, Point) else MEASUREMENT
            lines, idx = batches.setdefault(self._bucket(self.retention.policy(measurement)),
                                            ([], []))
            lines.append(text)
            idx.append(i)
        try:
            if retract:  # before the writes: what they write at the same time stays
                self._delete([q for _i, q in retract])
                result.accepted.extend(i for i, _q in retract)
            for bucket, (lines, idx) in batches.items():
                self._write(bucket, lines, idx, result)
        except _Stop as stop:
            result.retry_after = stop.retry_after
            result.error = stop.error
            result.operator = stop.operator
        return result

    def _write(self, bucket: str, lines: list[str], idx: list[int], result: WriteResult) -> None:
        if not lines:
            return
        outcome, message = self._post(bucket, lines)
        if outcome == "ok":
            result.accepted.extend(idx)
        elif len(lines) == 1:
            result.rejected.append((idx[0], message))
        else:
            # 400/422/413: halve until the refused lines are isolated (see the module doc)
            half = len(lines) // 2
            self._write(bucket, lines[:half], idx[:half], result)
            self._write(bucket, lines[half:], idx[half:], result)

    def _post(self, bucket: str, lines: list[str]) -> tuple[str, str]:
        """("ok", "") or ("split", message); raises _Stop when the rest must wait."""
        try:
            self._api.write(bucket=bucket, org="-", record="\n".join(lines).encode("utf-8"),
                            write_precision=WritePrecision.S)
            return "ok", ""
        except ApiException as e:
            status = e.status or 0
            msg = f"HTTP {status}: {server_message(e.body) or e.reason}"
            if status in (400, 422):
                return "split", f"refused by the database: {msg}"
            if status == 413:
                return "split", f"line too large for the database: {msg}"
            if status == 429 or status >= 500:
                raise _Stop(retry_after_s(e.headers), msg, operator=False) from None
            # credentials, permissions, missing database: no retry fixes these, a person does
            raise _Stop(retry_after_s(e.headers), msg, operator=True) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise _Stop(0.0, f"{self.url}: {type(e).__name__}: {e}", operator=False) from None

    def _delete(self, statements: list[str]) -> None:
        """DELETE statements (they need the WRITE privilege the sink's login has) through
        the server's InfluxQL endpoint; raises _Stop when they must be tried again."""
        try:
            url = self.query_url()
        except ValueError as e:  # no services.env
            url, why = "", str(e)
        else:
            why = "QUANTRAC_INFLUX_URL is not set"
        if not url:
            log.warning("no InfluxQL endpoint (%s): %d retracted points keep their earlier "
                        "fields", why, len(statements))
            return
        body = urllib.parse.urlencode({"db": self.db, "q": ";".join(statements)}).encode()
        basic = base64.b64encode(":".join(self._login).encode()).decode()
        req = urllib.request.Request(f"{url.rstrip('/')}/query", data=body,
                                     method="POST", headers={"Authorization": f"Basic {basic}"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                doc = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            msg = f"HTTP {e.code}: {server_message(e.read()) or e.reason}"
            if e.code in (401, 403) or e.code == 429 or e.code >= 500:
                raise _Stop(retry_after_s(e.headers), f"retracting points: {msg}",
                            operator=e.code in (401, 403)) from None
            doc = {"results": [{"error": msg}]}
        except OSError as e:
            raise _Stop(0.0, f"{url}: {type(e).__name__}: {e}",
                        operator=False) from None
        errors = [r["error"] for r in doc.get("results", []) if "error" in r]
        if errors:  # a server without DELETE (InfluxDB 2.7 and 3 Core's InfluxQL): the
            # writes must not wait for what it will never do; the earlier fields stay
            log.warning("the database refused %d retractions (%s); the points they replace "
                        "keep their earlier fields", len(statements), errors[0])

    def close(self) -> None:
        self._api.close()
        self._client.close()


def build(o: InfluxOptions, env: Env) -> InfluxSink:
    return InfluxSink(env.influx_write_url, env.influx_db, env.influx_write_user,
                      env.influx_write_password, timeout_s=o.timeout_s,
                      query_url=lambda: env.services().get("QUANTRAC_INFLUX_URL", ""))


def check(o: InfluxOptions, env: Env) -> None:
    if o.retry_initial_s > o.retry_max_s:
        raise ValueError(f"retry_initial_s = {o.retry_initial_s!r}: must not exceed "
                         f"retry_max_s = {o.retry_max_s!r}")


register(Plugin("sink", "influxdb", InfluxOptions, build, check))
