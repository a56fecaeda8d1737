"""`quantrac collector status`: what the running collector last wrote to
`<data_dir>/status.json` (every `[metrics] interval_s`), as a table: per station when it was
last heard from, its newest record, how complete its last full hour was, and its open alerts;
then the spool, the dead letters (and whether acknowledgements stopped), the broker and
database links, and the alert outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

STALE_INTERVALS = 3  # status older than this many refresh intervals: the collector is not running


class StatusError(Exception):
    """No readable status file."""


def load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StatusError(f"no status in {path}: is the collector running? "
                          "(quantrac collector run)") from None
    except (OSError, ValueError) as e:
        raise StatusError(f"{path}: unreadable ({e})") from None
    if not isinstance(doc, dict) or "stats" not in doc:
        raise StatusError(f"{path}: not a collector status file")
    return doc


def _ago(t: float | None, now: float) -> str:
    if not t:
        return "never"
    s = max(0, int(now - t))
    return f"{s} s ago" if s < 120 else f"{s // 60} min ago" if s < 7200 else f"{s // 3600} h ago"


def size_text(n: float) -> str:
    """Bytes as a person reads them: 812 B, 3.4 MB."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _hour(params: dict[str, dict[str, Any]] | None) -> str:
    if not params:
        return "-"
    got = sum(min(p["n"], p["expected"]) for p in params.values())
    want = sum(p["expected"] for p in params.values())
    short = sorted(k for k, p in params.items() if not p.get("complete"))
    text = f"{got}/{want} ({100 * got / want:.0f} %)" if want else "-"
    return text + (f" incomplete: {', '.join(short)}" if short else "")


def render(doc: dict[str, Any], now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    s = doc["stats"]
    age = now - float(doc.get("time", 0))
    lines = []
    if age > STALE_INTERVALS * float(doc.get("interval_s", 10)):
        lines.append(f"WARNING: this status is {int(age)} s old: the collector (pid "
                     f"{doc.get('pid')}) may not be running")
    spool = s.get("spool") or {}
    # each spool reader has its own backlog; only the database's is "not yet in the database"
    readers = spool.get("pending_bytes") or {}
    pending = readers.get("influxdb", 0)
    others = "".join(f", {size_text(v)} not yet sent by {c}" for c, v in sorted(readers.items())
                     if c != "influxdb")
    lines.append(
        f"collector pid {doc.get('pid')}, up {int(s.get('uptime_s', 0))} s, status from "
        f"{_ago(doc.get('time'), now)}; broker "
        f"{'connected' if s.get('source', {}).get('connected') else 'DISCONNECTED'}, "
        f"database {s.get('sink', {}).get('state', '?')}")
    if spool:
        lines.append(f"spool: {size_text(spool.get('bytes', 0))} of "
                     f"{size_text(spool.get('max_bytes', 0))}"
                     f", {size_text(pending)} not yet in the database{others}"
                     f"{' (HIGH WATER)' if spool.get('high_water') else ''}")
    dead = s.get("dead_letters") or {}
    if dead:
        lines.append(f"dead letters: {size_text(dead.get('bytes', 0))} of "
                     f"{size_text(dead.get('max_bytes', 0))}, {dead.get('evicted', 0)} dropped to "
                     "make room" + (" (FULL: not acknowledging until replayed or discarded, "
                                    "see quantrac collector dead-letters)"
                                    if dead.get("full") else ""))
    if s.get("totals", {}).get("spool_full"):
        lines.append("spool FULL: not acknowledging until the database catches up")
    for name, o in sorted((doc.get("alert_outputs") or {}).items()):
        lines.append(f"alert output {name}: {o.get('state')}, {o.get('delivered')} delivered, "
                     f"{o.get('waiting')} waiting, {o.get('refused')} refused"
                     f"{' (' + o['last_error'] + ')' if o.get('state') != 'ok' else ''}")
    if doc.get("metrics_url"):
        lines.append(f"metrics: {doc['metrics_url']}")
    stations = s.get("stations", {})
    complete = doc.get("completeness", {})
    alerts = doc.get("alerts_open", {})
    names = sorted(set(stations) | set(complete) | set(alerts))
    lines.append("")
    lines.append(f"{'station':<12} {'last seen':<12} {'newest record':<21} {'online':<7} "
                 f"{'last full hour':<16} open alerts")
    for st in names:
        v = stations.get(st, {})
        rec = v.get("last_record_time")
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(rec)) if rec else "-"
        online = {True: "yes", False: "NO"}.get(v.get("online"), "?")
        lines.append(f"{st:<12} {_ago(v.get('last_seen'), now):<12} {when:<21} {online:<7} "
                     f"{_hour(complete.get(st)):<16} {', '.join(alerts.get(st, [])) or '-'}")
    return lines


def status_path(folder: Path, config_file: str | None) -> Path:
    """`<data_dir>/status.json`, with data_dir from the config file's [collector] when given."""
    from collector import config

    opts = config.CollectorOptions()
    if config_file:
        opts = config.build(config.CollectorOptions,
                            config.load_toml(Path(config_file)).get("collector", {}), "collector")
    return config.data_dir(folder, opts) / "status.json"
