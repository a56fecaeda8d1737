"""Expected outcomes of a scenario, judged end to end: InfluxDB (InfluxQL, read-only user),
the broker (retained alerts, command acks the bench saw) and the firmware's log.

Each check counts what matches and passes when the count lies in [min, max] (min 1 when
neither is given), or, with `share`, when at least that share of the window's points match.
A check never passes on an empty database: "no points at all" is a failure with a reason.
`above`/`below` judge the values that exist: a record without a value (no valid sample) is
left out of their count, and its status tells about it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from collector.retention import shipped as shipped_retention
from hil import watch
from hil.scenario import Check, Scenario
from quantrac_common import influxql


@dataclass(frozen=True)
class CheckResult:
    what: str
    passed: bool
    detail: str = ""

    def to_json(self) -> dict:
        return {"what": self.what, "passed": self.passed, "detail": self.detail}


@dataclass
class Context:
    scenario: Scenario
    env: dict  # services env with QUANTRAC_INFLUX_DB = the scenario's own database
    watcher: watch.Watcher | None
    log_text: Callable[[str], str]  # station id -> firmware log
    ota: Any = None  # an OTA scenario's hil.ota_play.OtaPlayer (rollouts, stations)


def qc_bit(name: str) -> int:
    from collector.processors.qc.checks import BIT_NAMES

    by_name = {v: k for k, v in BIT_NAMES.items()}
    if name not in by_name:
        raise ValueError(f"qc bit {name!r} is not one of {', '.join(by_name)}")
    return by_name[name]


def _window(check: Check, ctx: Context) -> tuple[float, float]:
    sc = ctx.scenario
    a, b = check.spec.get("between", (sc.start, sc.end + sc.report_s))
    return a, b


def _rows(ctx: Context, measurement: str, where: dict[str, str], a: float, b: float) -> list:
    cond = " AND ".join(f"{influxql.quote_ident(k)} = {influxql.quote_string(v)}"
                        for k, v in where.items())
    # aqi, wqi and alert live outside the default retention policy (collector/retention.json)
    q = (f'SELECT * FROM {shipped_retention().qualified(measurement)} WHERE {cond} '
         f'AND time >= {int(a)}s AND time <= {int(b)}s')
    return influxql.rows(influxql.query(ctx.env, q))


def _count(check: Check, n: int, total: int, what: str) -> tuple[bool, str]:
    spec = check.spec
    if "share" in spec:
        share = float(spec["share"])
        ok = total > 0 and n / total >= share
        return ok, f"{what}: {n} of {total} points match (need ≥ {share:.0%})"
    lo = spec.get("min", 0 if "max" in spec else 1)
    hi = spec.get("max")
    ok = n >= lo and (hi is None or n <= hi)
    need = f"≥ {lo}" if hi is None else f"{lo}..{hi}"
    return ok, f"{what}: {n} match of {total} (need {need})"


def _value_ok(spec: dict, value: object) -> bool:
    if "above" in spec and not (isinstance(value, int | float) and value > spec["above"]):
        return False
    return not ("below" in spec and not (isinstance(value, int | float)
                                         and value < spec["below"]))


def readings(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    a, b = _window(check, ctx)
    params = spec.get("params", [spec.get("param")])
    bits = {k: qc_bit(spec[k]) for k in ("qc_bit", "no_qc_bit") if k in spec}
    verdicts, details = [], []
    for param in params:
        rows = _rows(ctx, "reading", {"station": check.station, "param": param}, a, b)
        if "above" in spec or "below" in spec:  # judge values: records without one say nothing
            rows = [r for r in rows if isinstance(r.get("value"), int | float)]
        if rows and bits and all(r.get("qc_bits") is None for r in rows):
            verdicts.append(False)
            details.append(f"{param}: no qc_bits field on the readings (is the collector's "
                           "qc stage running?)")
            continue

        def match(r: dict) -> bool:
            if "status" in spec and r.get("status") != spec["status"]:
                return False
            if "qc" in spec and r.get("qc") != spec["qc"]:
                return False
            qb = int(r.get("qc_bits") or 0)
            if "qc_bit" in bits and not qb & bits["qc_bit"]:
                return False
            if "no_qc_bit" in bits and qb & bits["no_qc_bit"]:
                return False
            return _value_ok(spec, r.get("value"))

        n = sum(1 for r in rows if match(r))
        ok, text = _count(check, n, len(rows), param)
        verdicts.append(ok)
        details.append(text if rows else f"{param}: no readings in the window")
    return CheckResult(check.what, all(verdicts), "; ".join(details))


def means(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    a, b = _window(check, ctx)
    where = {"station": check.station, "param": spec["param"],
             "period": str(spec.get("period", "1h"))}
    rows = _rows(ctx, "mean", where, a, b)
    n = sum(1 for r in rows if ("complete" not in spec or r.get("complete") == spec["complete"])
            and _value_ok(spec, r.get("value")))
    ok, text = _count(check, n, len(rows), f"{spec['param']} {where['period']} means")
    if not rows:
        text += " (no mean points: is the collector's aggregate stage running?)"
    return CheckResult(check.what, ok, text)


def points(check: Check, ctx: Context) -> CheckResult:
    """Any measurement (aqi, wqi, …): tags to select, one field to judge."""
    spec = check.spec
    a, b = _window(check, ctx)
    measurement = str(spec.get("measurement", ""))
    tags = {str(k): str(v) for k, v in (spec.get("tags") or {}).items()}
    rows = _rows(ctx, measurement, {"station": check.station, **tags}, a, b)
    name = spec.get("field")

    def match(r: dict) -> bool:
        if name is None:
            return True
        if r.get(name) is None:
            return False
        return ("equals" not in spec or r[name] == spec["equals"]) and _value_ok(spec, r[name])

    n = sum(1 for r in rows if match(r))
    ok, text = _count(check, n, len(rows), f"{measurement} points")
    if not rows:
        text += f" (no {measurement} points for {check.station} in the window)"
    return CheckResult(check.what, ok, text)


def alerts(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    a, b = _window(check, ctx)
    rows = _rows(ctx, "alert", {"station": check.station}, a, b)
    mine = [r for r in rows if "rule" not in spec or r.get("rule") == spec["rule"]]
    n = sum(1 for r in mine if all(r.get(k) == spec[k] for k in ("event", "state") if k in spec))
    ok, text = _count(check, n, len(mine), f"alert {spec.get('rule', '*')} points")
    if mine and not ok:
        text += " (" + ", ".join(f"{r.get('rule')} {r.get('event')} at +"
                                 f"{(r['time'] - ctx.scenario.start) / 60:.0f} min"
                                 for r in mine[:6]) + ")"
        if ctx.watcher is not None:  # the broker saw every transition, even overwritten ones
            live = [m for m in ctx.watcher.alerts(check.station)
                    if m.get("rule") == spec.get("rule", m.get("rule"))]
            if live:
                text += "; on MQTT: " + ", ".join(
                    f"{m.get('event')} {m.get('value', 0):.0f} at +"
                    f"{(m.get('t', ctx.scenario.start) - ctx.scenario.start) / 60:.0f} min"
                    for m in live[:8])
    if not rows:
        text += f" (no alert points for {check.station} in the window)"
    elif not mine:
        seen = sorted({f"{r.get('rule')}:{r.get('event')}" for r in rows})
        text += f" (other alerts there: {', '.join(seen)})"
    return CheckResult(check.what, ok, text)


def retained(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    doc = watch.retained_alert(ctx.env, check.station)
    rule, state = spec.get("rule"), spec.get("state", "open")
    if doc is None:
        return CheckResult(check.what, False, f"no retained message on "
                                              f"{watch.PREFIX}/alerts/{check.station}")
    open_rules = [o.get("rule") for o in doc.get("open", []) if isinstance(o, dict)]
    if state == "open":
        ok = rule in open_rules
    else:
        seen = ctx.watcher is not None and any(
            m.get("rule") == rule for m in ctx.watcher.alerts(check.station))
        ok = rule not in open_rules and seen
    return CheckResult(check.what, ok, f"retained: rule={doc.get('rule')} "
                                       f"state={doc.get('state')} open={open_rules}")


def acks(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    if ctx.watcher is None:
        return CheckResult(check.what, False, "no broker watcher in this run")
    sent = [c["id"] for c in ctx.watcher.sent(check.station) if c.get("cmd") == spec.get("cmd")]
    answers = [e for e in ctx.watcher.events(check.station)
               if e.get("ev") == "ack" and e.get("id") in sent]
    n = sum(1 for e in answers if "ok" not in spec or e.get("ok") == spec["ok"])
    ok, text = _count(check, n, len(sent), f"acks to {spec.get('cmd')}")
    if not sent:
        text += " (the scenario sent no such command)"
    elif not answers:
        text += f" (sent {', '.join(sent)}; the station answered none)"
    else:
        text += " " + "; ".join(f"{e.get('id')} ok={e.get('ok')} {e.get('why', '')}".strip()
                                for e in answers)
    return CheckResult(check.what, ok, text)


def log_lines(check: Check, ctx: Context) -> CheckResult:
    pattern = re.compile(check.spec["pattern"])
    n = sum(1 for line in ctx.log_text(check.station).splitlines() if pattern.search(line))
    ok, text = _count(check, n, n, f"log lines matching {pattern.pattern!r}")
    return CheckResult(check.what, ok, text)


JUDGES: dict[str, Callable[[Check, Context], CheckResult]] = {
    "readings": readings, "mean": means, "points": points, "alert": alerts,
    "retained_alert": retained, "ack": acks, "log": log_lines}


def judge(check: Check, ctx: Context) -> CheckResult:
    """One check's verdict; a failing query is a failed check with the reason, not a crash."""
    try:
        if check.kind not in JUDGES:  # over the air: hil/ota_checks.py (it imports this)
            from hil import ota_checks

            return ota_checks.JUDGES[check.kind](check, ctx)
        return JUDGES[check.kind](check, ctx)
    except (influxql.QueryError, watch.WatchError, ValueError, ImportError) as e:
        return CheckResult(check.what, False, f"could not judge: {e}")
