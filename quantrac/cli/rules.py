"""`quantrac rules show STATION`: which limit applies to each parameter, from which rule, how
sure; and the transition warnings `services up` and `station build` print.

The limits are the shipped rule sets (collector/rules/) with the department's official numbers
from `regulations.json` in the run folder (or `--department FILE`), exactly as the collector's
alerts stage builds them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

import boards
from boards.param_names import base

RUN_DIR = click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path),
                       help="run folder whose regulations.json holds the department's numbers "
                            "(default: QUANTRAC_RUN_DIR or .run/)")


def department_file(run_dir: Path | None, given: Path | None = None) -> Path:
    from collector.alerting.regulations import OVERRIDE_FILE
    from quantrac_common import paths

    return given if given else paths.run_dir(run_dir) / OVERRIDE_FILE


def transition_warnings(stations: list[boards.Station], run_dir: Path | None) -> list[str]:
    """Warnings for stations on a rule set past its transition end; a rules or department
    file that cannot be read is a warning here too (these commands are not about rules)."""
    from collector.alerting import rules

    path = department_file(run_dir)
    try:
        rs = rules.load(None, path)
    except rules.RulesError as e:
        return [f"regulations: {e}"]
    return rules.transition_warnings(rs, stations)


def echo_warnings(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"warning: {line}", err=True)


@click.group()
def rules() -> None:
    """Regulation limits per station: which applies, from which rule, how sure."""


def _bound(lo: float | None, hi: float | None) -> str:
    from collector.alerting.messages import bound

    return bound(lo, hi, "not found")


def report(st: boards.Station, run_dir: Path | None, department: Path | None,
           rules_dir: Path | None) -> dict[str, Any]:
    """What `rules show --json` prints; ClickException for a file that cannot be used."""
    from collector.alerting import regulations as regs
    from collector.alerting import rules

    path = department_file(run_dir, department)
    try:
        rs = rules.load(rules_dir, path)
    except rules.RulesError as e:
        raise click.ClickException(str(e)) from None
    params = st.params()
    got, warnings = rules.applied(rs, st, set(params))
    doc = rs.regulations.get(st.regulation)
    rule_set = None
    if doc is not None:
        rule_set = {"regulation": doc["regulation"], "title": doc.get("title", ""),
                    "source": doc["source"], "effective": regs.effective(doc, rs.department),
                    "transition_end": regs.transition_end(doc, rs.department),
                    "replaces": doc["replaces"],
                    "superseded_by": doc.get("superseded_by") or None,
                    # how sure the dates are, and why (QCVN 01-1:2024's sources disagree)
                    "effective_confidence": doc.get("effective_confidence"),
                    "transition_confidence": doc.get("transition_confidence"),
                    "notes": [doc[k] for k in ("effective_note", "transition_note", "note")
                              if doc.get(k)]}
    from collector.alerting import noise_regime

    try:
        noise = noise_regime.describe(noise_regime.for_station(st, rs.regulations,
                                                               rs.department))
    except noise_regime.NoiseRegimeError as e:
        raise click.ClickException(str(e)) from None
    limited = {a.param for a in got}
    if noise:  # the sound levels are judged by the noise regulation, not the station's own
        limited |= {noise_regime.PARAM, "lamax", "lamin", "l10", "l50", "l90"}
    # what the regulation limits that this station does not measure (COD at an outfall);
    # a second probe's channel (ph_2) measures its base (boards/param_names.py)
    measured = {base(p) for p in params}
    unmeasured = sorted({a.param for a in rules.applied(rs, st)[0]} - measured)
    return {
        "station": st.id, "name": st.name, "kind": st.kind, "regulation": st.regulation,
        "column": st.column, "design_flow_m3d": st.raw.get("design_flow_m3d"),
        "rule_set": rule_set,
        "department_file": str(path) if rs.department.limits or rs.department.meta else None,
        "limits": [{"param": ch, "period": a.period, "unit": a.unit, "min": a.min,
                    "max": a.max, "rule": rules.channel_rule_id(a, ch), "status": a.status,
                    "source": a.source, "confidence": a.confidence, "label": a.label,
                    "note": a.note}
                   for a in got for ch in rules.channels_of(a, params)],
        "no_limit": sorted(p for p in params if base(p) not in limited),
        "not_measured": unmeasured,
        "noise": noise,
        "warnings": warnings + rules.transition_warnings(rs, [st]),
    }


def _table(doc: dict[str, Any]) -> list[str]:
    flow = doc["design_flow_m3d"]
    head = (f"{doc['station']}  {doc['name']}  ({doc['kind']}, {doc['regulation']}"
            + (f" column {doc['column']}" if doc["column"] else "")
            + (f", design flow {flow:g} m3/day" if flow else "") + ")")
    lines = [head]
    rs = doc["rule_set"]
    if rs:
        def sure(key: str) -> str:
            return f" ({rs[key]})" if rs[key] else ""

        lines.append(f"rule set: {rs['regulation']}, in force since {rs['effective']}"
                     f"{sure('effective_confidence')}, transition end {rs['transition_end']}"
                     f"{sure('transition_confidence')}"
                     + (f", replaces {', '.join(rs['replaces'])}" if rs["replaces"] else "")
                     + (f", superseded by {rs['superseded_by']}" if rs["superseded_by"] else ""))
    if doc["department_file"]:
        lines.append(f"department's numbers: {doc['department_file']}")
    rows = [("param", "period", "limit", "unit", "rule", "confidence", "from")]
    for a in doc["limits"]:
        basis = {"in force": a["source"], "department": a["source"],
                 "fallback": a["label"], "not found": a["label"]}[a["status"]]
        rows.append((a["param"], a["period"], _bound(a["min"], a["max"]), a["unit"],
                     a["rule"], a["confidence"], basis))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r[:6], widths, strict=True)) + "  " + r[6]
              for r in rows]
    for p in doc["no_limit"]:
        lines.append(f"{p}: no limit in {doc['regulation']}")
    if doc["not_measured"]:
        lines.append(f"limited by {doc['regulation']} but not measured here: "
                     + ", ".join(doc["not_measured"]))
    for n in doc.get("noise", []):
        span = " ".join(x for x in (n["from"] and f"from {n['from']}",
                                    n["until"] and f"until {n['until']}") if x)
        lines.append(f"noise: {n['regulation']}, area {n['area']}"
                     + (f", {span}" if span else "")
                     + f" (clock hours: {n['clock_hours_from']})")
        if n["judged"]:
            lines += [f"  laeq  {x['label']}  <= {x['max']:g} dBA  {x['rule']}  {x['confidence']}"
                      for x in n["limits"] if x["max"] is not None]
        lines += [f"  nothing judged: {p.split(': ', 1)[1]}" for p in n["problems"]]
    lines += [f"warning: {w}" for w in doc["warnings"]]
    return lines


@rules.command()
@click.argument("station_id")
@click.option("--json", "as_json", is_flag=True, help="one JSON object instead of the table")
@click.option("--registry", "registry_name", default="phu-quoc", show_default=True,
              help="registry name under boards/registry, or a path to a registry .json file")
@click.option("--department", type=click.Path(dir_okay=False, path_type=Path),
              help="the department's file (default: regulations.json in the run folder)")
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False, path_type=Path),
              help="rules folder (default: the shipped collector/rules/)")
@RUN_DIR
def show(station_id: str, as_json: bool, registry_name: str, department: Path | None,
         rules_dir: Path | None, run_dir: Path | None) -> None:
    """Each parameter's limit at STATION_ID: value, rule, status, confidence, source."""
    from quantrac.field import registry_file

    try:
        st = registry_file.load(registry_name).get(station_id)
    except (registry_file.RegistryError, boards.BoardsError) as e:
        raise click.ClickException(str(e)) from None
    doc = report(st, run_dir, department, rules_dir)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        click.echo("\n".join(_table(doc)))
