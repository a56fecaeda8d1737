"""InfluxQL over HTTP with the read-only user: what dashboards, the demo and tests query with;
and the quoting every statement we build uses.

Every InfluxDB version serves `/query`, so reads never depend on the write API's version.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request


class QueryError(RuntimeError):
    pass


def quote_ident(name: str) -> str:
    """A double-quoted identifier (database, policy, measurement, tag, field, user)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(text: str) -> str:
    """A single-quoted string literal (a tag value, a password)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def query(env: dict[str, str], q: str, *, user: str | None = None, password: str | None = None,
          timeout: float = 10.0) -> list[dict]:
    """Run one InfluxQL statement; returns its series as [{"name", "tags", "columns", "values"}]."""
    # the login in a header and the statement in the body, never in the URL: a URL ends up
    # in access logs, proxies and error messages
    body = urllib.parse.urlencode({"db": env["QUANTRAC_INFLUX_DB"], "q": q,
                                   "epoch": "s"}).encode()
    login = f"{user or env['QUANTRAC_INFLUX_READ_USER']}:" \
            f"{password or env['QUANTRAC_INFLUX_READ_PASSWORD']}"
    req = urllib.request.Request(
        f"{env['QUANTRAC_INFLUX_URL'].rstrip('/')}/query", data=body, method="POST",
        headers={"Authorization": "Basic " + base64.b64encode(login.encode()).decode(),
                 "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        raise QueryError(f"InfluxDB answered {e.code}: {e.read().decode(errors='replace')}") from e
    except OSError as e:
        raise QueryError(f"InfluxDB at {env['QUANTRAC_INFLUX_URL']} is unreachable: {e}") from e
    result = body.get("results", [{}])[0]
    if "error" in result:
        raise QueryError(f"{q}: {result['error']}")
    return result.get("series", [])


def rows(series: list[dict]) -> list[dict]:
    """Flatten series into dicts of tags + columns, one per row."""
    out = []
    for s in series:
        for values in s.get("values", []):
            out.append({**s.get("tags", {}), **dict(zip(s["columns"], values, strict=True))})
    return out
