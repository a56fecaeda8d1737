"""What the dashboards show that is data elsewhere, read from where it lives: index bands and
their official colours (collector/domain/tables), QCVN limits per averaging period (the alert
rules, collector/rules), stations, kinds and coordinates (the registry). Nothing is retyped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import boards
from boards.param_names import base, label
from collector.alerting import rules as alert_rules
from collector.domain import aqi, aqi_health, wqi

AIR_KINDS = ("air",)


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class Band:
    """An index band: values from `lower` up belong to it (until the next band's lower)."""

    key: str
    lower: int
    vi: str
    en: str
    colour: str

    def label(self, lang: str) -> str:
        return self.vi if lang == "vi" else self.en


def aqi_bands() -> tuple[Band, ...]:
    """VN_AQI bands (Decision 1459); a band starts one above the previous band's maximum."""
    return tuple(Band(b.key, lower, b.vi, b.en, b.hex)
                 for lower, b in aqi.band_floors(aqi.default_table()))


def aqi_advice(key: str) -> dict:
    """The band's colour, health message and recommended activities (Decision 1459)."""
    return aqi_health.of_band(key)


def wqi_classes() -> tuple[Band, ...]:
    """VN_WQI classes (Decision 1460), lowest first."""
    return tuple(Band(c.key, c.min, c.vi, c.en, hex_colour(c.rgb))
                 for c in sorted(wqi.default_table().classes, key=lambda c: c.min))


def aqi_params() -> tuple[str, ...]:
    return aqi.PARAMS


@cache
def rule_set() -> alert_rules.RuleSet:
    return alert_rules.load()


def param_name(param: str) -> str:
    """Display name (SO2, PM10, NH4+) from the rules' `names`."""
    return rule_set().names.get(param, param)


def channel_name(param: str, lang: str) -> str:
    """A recorded parameter as people read it, saying which probe for a second one
    ("pH (probe 2)"): boards.param_names.label over the rules' `names`."""
    return label(param, rule_set().names, lang)


def unit_name(unit: str) -> str:
    return rule_set().units.get(unit, unit)


def period_name(period: str, lang: str) -> str:
    return rule_set().periods.get(period, {}).get(lang, period)


@dataclass(frozen=True)
class Limit:
    """One QCVN limit: a mean over `period` must stay at or below `above` / at or above
    `below`; `later`: (local date, above, below) from which other values apply."""

    param: str
    period: str
    unit: str
    above: float | None
    below: float | None
    later: tuple[tuple[str, float | None, float | None], ...] = ()
    fallback: str = ""  # the superseded regulation the value comes from, when it is a fallback


@dataclass(frozen=True)
class Group:
    """Stations judged against the same regulation column: one detail dashboard."""

    slug: str
    family: str  # "air" or "water"
    kinds: tuple[str, ...]
    regulation: str
    column: str | None
    stations: tuple[boards.Station, ...]
    params: tuple[str, ...]
    limits: tuple[Limit, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.stations)


def _limits(station: boards.Station, params: set[str], tz: ZoneInfo) -> tuple[Limit, ...]:
    import datetime

    rs, _ = alert_rules.regulation_rules(rule_set(), station, params, tz)
    sources = {a.rule_id: a.source for a in alert_rules.applied(rule_set(), station, params)[0]
               if a.status == "fallback"}
    out, seen = [], set()
    for r in rs:
        # one limit per base parameter: the panel of `ph` draws every pH probe (detail.py)
        if (base(r.param), r.period) in seen:
            continue
        seen.add((base(r.param), r.period))
        later = tuple((datetime.datetime.fromtimestamp(t, tz).date().isoformat(), a, b)
                      for t, a, b in r.steps)
        out.append(Limit(base(r.param), r.period, r.unit, r.above, r.below, later,
                         sources.get(r.id, "")))
    return tuple(out)


def channels(group: Group, param: str) -> tuple[str, ...]:
    """The group's recorded parameters measuring base `param` (`temp`, `temp_do`), the
    base's own first."""
    return tuple(sorted((p for p in group.params if base(p) == param),
                        key=lambda p: (p != param, p)))


@cache
def groups(registry: str = "phu-quoc") -> tuple[Group, ...]:
    """The registry's stations grouped by family, regulation, column and k-factor, in
    registry order."""
    reg = boards.registry(registry)
    tz = ZoneInfo(reg.timezone)
    keyed: dict[tuple, list[boards.Station]] = {}
    for s in reg.stations:
        family = "air" if s.kind in AIR_KINDS else "water"
        key = (family, s.regulation, s.column, s.raw.get("k_factor", 1.0))
        keyed.setdefault(key, []).append(s)
    out = []
    for (family, regulation, column, k), stations in keyed.items():
        params = sorted({p for s in stations for p in s.params()})
        doc = rule_set().regulations.get(regulation, {})
        parts = (family, doc.get("id", "noreg"), column, f"k{k:g}" if k != 1.0 else None)
        slug = "-".join(str(x) for x in parts if x).lower().replace(".", "_")
        out.append(Group(slug, family, tuple(dict.fromkeys(s.kind for s in stations)),
                         regulation, column, tuple(stations), tuple(params),
                         _limits(stations[0], set(params), tz)))
    return tuple(out)


def network(registry: str = "phu-quoc") -> boards.Registry:
    return boards.registry(registry)


def report_periods(registry: str = "phu-quoc") -> dict[int, tuple[str, ...]]:
    """Report interval (s) → the stations that report at it (their profile's report_s)."""
    out: dict[int, list[str]] = {}
    for s in boards.registry(registry).stations:
        out.setdefault(int(boards.profile(s.profile).get("report_s", 300)), []).append(s.id)
    return {k: tuple(v) for k, v in sorted(out.items())}
