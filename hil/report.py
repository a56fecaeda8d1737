"""The pass/fail report of a HIL run: JSON for machines, a table for people.

    {"scenarios": [{"name": …, "passed": true|false,
                    "checks": [{"what": …, "passed": …, "detail": …}], …}],
     "passed": true|false, "started": "<UTC ISO 8601>", "seconds": …, "firmware": …}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from hil.runner import ScenarioResult
from quantrac_common.files import write_atomic


def document(results: list[ScenarioResult], started: float, firmware: str,
             board: str | None = None) -> dict:
    doc = {
        "scenarios": [r.to_json() for r in results],
        "passed": bool(results) and all(r.passed for r in results),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "firmware": firmware,
    }
    if board:
        doc["board"] = board
    return doc


def write(doc: dict, path: Path) -> None:
    """Atomically, so a reader never sees half a report."""
    write_atomic(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def table(results: list[ScenarioResult], verbose: bool = False) -> str:
    """One line per scenario; every failed check (all checks when verbose) under it."""
    width = max([len(r.name) for r in results] + [8])
    lines = [f"{'scenario':<{width}}  result  checks  station time  real time"]
    for r in results:
        passed = sum(c.passed for c in r.checks)
        lines.append(f"{r.name:<{width}}  {'PASS' if r.passed else 'FAIL':<6}  "
                     f"{passed:>2}/{len(r.checks):<3}  {r.station_s / 3600:>9.1f} h  "
                     f"{r.seconds:>7.0f} s")
        if r.error:
            lines.append(f"    ! {r.error}")
        for c in r.checks:
            if verbose or not c.passed:
                mark = "ok  " if c.passed else "FAIL"
                lines.append(f"    {mark} {c.what}" + (f" — {c.detail}" if c.detail else ""))
    total = sum(r.passed for r in results)
    lines.append(f"{total} of {len(results)} scenarios passed")
    return "\n".join(lines)
