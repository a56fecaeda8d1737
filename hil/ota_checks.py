"""Expected outcomes of an over-the-air scenario, judged on what the operations room sees:
the stations' `ota` and `birth` events on the broker (the bench's watcher), the rollouts'
results, and, as a technician's laptop would read it off a board, the station's flash
(`ota/active`) and how often it restarted (the bench's supervisor).

- `ota`: the count of the station's `ota` events matching `state`, `ver` and `why` (a
  regular expression);
- `firmware`: `runs` (its last birth event reports that version), `never_ran` (no birth with
  it and no `staged` or `good` event for it), `slot` (ota/active names it at the end, and the
  station's last birth event says it runs that slot);
- `restarts`: the count of firmware runs that ended on their own (exit 3 after a switch, a
  crash);
- `rollout`: the rollout step's result: `outcome` (halted, complete), `staged` and `healthy`
  (exact sets of stations), `why` (a regular expression).

Layout and examples: hil/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hil.checks import CheckResult, Context, _count
from hil.scenario import Check


def _events(ctx: Context, station: str, ev: str) -> list[dict]:
    if ctx.watcher is None:
        return []
    return [e for e in ctx.watcher.events(station) if e.get("ev") == ev]


def ota_events(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    events = _events(ctx, check.station, "ota")
    why = re.compile(str(spec["why"])) if "why" in spec else None

    def match(e: dict) -> bool:
        return (all(e.get(k) == spec[k] for k in ("state", "ver") if k in spec)
                and (why is None or why.search(str(e.get("why", ""))) is not None))

    n = sum(1 for e in events if match(e))
    ok, text = _count(check, n, len(events), "ota events")
    seen = "; ".join(f"{e.get('state')} {e.get('ver')}"
                     + (f" ({e['why']})" if e.get("why") else "") for e in events[:12])
    return CheckResult(check.what, ok, f"{text}: {seen or 'none'}")


def firmware(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    born = _events(ctx, check.station, "birth")
    births = [e.get("fw") for e in born]
    installed = [e.get("ver") for e in _events(ctx, check.station, "ota")
                 if e.get("state") in ("staged", "good")]
    verdicts, details = [], [f"births: {', '.join(map(str, births)) or 'none'}"]
    if "runs" in spec:
        verdicts.append(bool(births) and births[-1] == spec["runs"])
    if "never_ran" in spec:
        verdicts.append(spec["never_ran"] not in births + installed)
        details.append(f"staged or good: {', '.join(installed) or 'none'}")
    if "slot" in spec:
        station = ctx.ota.stations.get(check.station) if ctx.ota is not None else None
        try:
            active = (station.dir / "ota" / "active").read_text().strip() if station else None
        except OSError:
            active = None
        said = born[-1].get("slot") if born else None
        verdicts.append(active == spec["slot"] and said == spec["slot"])
        details.append(f"active slot {active}, its last birth says slot {said}")
    return CheckResult(check.what, all(verdicts), "; ".join(details))


def restarts(check: Check, ctx: Context) -> CheckResult:
    station = ctx.ota.stations.get(check.station) if ctx.ota is not None else None
    if station is None:
        return CheckResult(check.what, False, "no supervised station (not an ota scenario)")
    ok, text = _count(check, len(station.exits), len(station.exits), "restarts")
    return CheckResult(check.what, ok, f"{text}; exit codes {station.exits}")


def rollout(check: Check, ctx: Context) -> CheckResult:
    spec = check.spec
    result = ctx.ota.rollouts.get(spec["id"]) if ctx.ota is not None else None
    if result is None:
        return CheckResult(check.what, False, f"rollout {spec['id']} did not run")
    verdicts = [("halted" if result.halted else "complete") == spec["outcome"]]
    for key in ("staged", "healthy"):
        if key in spec:
            verdicts.append(set(getattr(result, key)) == set(spec[key]))
    if "why" in spec:
        verdicts.append(re.search(str(spec["why"]), result.why) is not None)
    detail = (f"{'halted' if result.halted else 'complete'}"
              + (f" ({result.why})" if result.why else "")
              + f"; staged {', '.join(result.staged)}; healthy {', '.join(result.healthy)}")
    return CheckResult(check.what, all(verdicts), detail)


JUDGES: dict[str, Callable[[Check, Context], CheckResult]] = {
    "ota": ota_events, "firmware": firmware, "restarts": restarts, "rollout": rollout}
