"""[processors.alerts] options (the plugin registers them; defaults in sample.toml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class AlertsOptions:
    """[processors.alerts]"""

    rules: str = field(default="", metadata={
        "doc": "rules folder (defaults.json + regulation files); empty: collector/rules/"})
    department: str = field(default="", metadata={
        "doc": "the department's official numbers and dates (collector/rules/README.md); "
               "empty: regulations.json in the run folder, when it exists"})
    mutes: tuple[str, ...] = field(default=(), metadata={
        "doc": "maintenance windows: '<station glob> <rule glob> <start> <end>'"})
    tick_s: float = field(default=10.0, metadata={
        "lo": 0.5, "hi": 3600, "doc": "how often offline and collector rules are judged"})
    day_grace_s: float = field(default=7200.0, metadata={
        "lo": 0, "hi": 7 * 86400,
        "doc": "a local day's 24 h limits are judged this long after its midnight"})
    escalate: tuple[str, ...] = field(default=("critical",), metadata={
        "doc": "severities whose alerts follow the contact chain"})
    escalate_after_s: float = field(default=1800.0, metadata={
        "lo": 1, "hi": 7 * 86400,
        "doc": "an alert nobody acknowledged goes to the next level after this long"})
    contacts: tuple[str, ...] = field(default=(), metadata={
        "doc": "the contact chain: '<level> <channel>:<address> …'"})


def department_file(opts: AlertsOptions, run_dir: Path) -> Path:
    from collector.alerting.regulations import OVERRIDE_FILE

    return Path(opts.department) if opts.department else Path(run_dir) / OVERRIDE_FILE


def check(opts: AlertsOptions, registry: str, run_dir: Path | None = None) -> None:
    """ValueError naming the option when the rules folder or a mute window cannot be used."""
    from zoneinfo import ZoneInfo

    import boards
    from collector.alerting import rules
    from collector.alerting.engine import parse_mute

    try:
        rs = rules.load(opts.rules or None)
    except rules.RulesError as e:
        raise ValueError(f"rules = {opts.rules!r}: {e}") from None
    try:
        if run_dir is not None or opts.department:
            rs = rules.load(opts.rules or None, department_file(opts, run_dir or Path(".")))
        rules.for_registry(rs, registry)
        from collector.alerting import noise_regime

        noise_regime.for_registry(registry, rs.regulations, rs.department)
    except (rules.RulesError, ValueError) as e:
        raise ValueError(f"department = {opts.department!r}: {e}") from None
    tz = ZoneInfo(boards.registry(registry).timezone)
    for m in opts.mutes:
        try:
            parse_mute(m, tz)
        except ValueError as e:
            raise ValueError(f"mutes: {e}") from None
    from collector.alerting.desk import parse_contact
    from collector.alerting.engine import SEVERITIES

    for sev in opts.escalate:
        if sev not in SEVERITIES:
            raise ValueError(f"escalate: {sev!r} is not one of {', '.join(SEVERITIES)}")
    for c in opts.contacts:
        try:
            parse_contact(c)
        except ValueError as e:
            raise ValueError(f"contacts: {e}") from None
