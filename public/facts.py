"""What the page shows that is data elsewhere, read from there: VN_AQI bands, their official
colours and health messages (collector/domain/tables), the regulation limits water stations
are judged by (collector/rules), stations and coordinates (the registry). Nothing retyped."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

import boards
from collector.alerting import rules as alert_rules
from collector.domain import aqi, aqi_health

AIR_KINDS = ("air",)


@dataclass(frozen=True)
class Band:
    key: str
    lower: int
    upper: int
    vi: str
    en: str
    colour: str


@cache
def aqi_bands() -> tuple[Band, ...]:
    return tuple(Band(b.key, lower, b.max, b.vi, b.en, b.hex)
                 for lower, b in aqi.band_floors(aqi.default_table()))


def band(key: str) -> Band | None:
    return next((b for b in aqi_bands() if b.key == key), None)


def advice(key: str) -> dict:
    """Health message and recommended activities for the public and sensitive groups."""
    return aqi_health.of_band(key)


@cache
def rule_set() -> alert_rules.RuleSet:
    return alert_rules.load()


def param_name(param: str) -> str:
    if param == "aqi":
        return "VN_AQI"
    return rule_set().names.get(param, param)


def unit_name(unit: str) -> str:
    return rule_set().units.get(unit, unit)


@dataclass(frozen=True)
class Limit:
    param: str
    unit: str
    above: float | None
    below: float | None
    regulation: str
    basis: tuple[tuple[str, str], ...] = ()  # (lang, where the number comes from), e.g. a
    # superseded regulation applied until the new text is found

    def basis_text(self, lang: str) -> str:
        return dict(self.basis).get(lang) or self.regulation


@cache
def hourly_limits(station_id: str) -> tuple[Limit, ...]:
    """The 1-hour limits of a water station's regulation (what its status is judged by)."""
    reg = network()
    st = reg.get(station_id)
    rs, _ = alert_rules.regulation_rules(rule_set(), st, set(st.params()),
                                         ZoneInfo(reg.timezone))
    return tuple(Limit(r.param, r.unit, r.above, r.below, r.regulation,
                       tuple(sorted((r.basis or {}).items())))
                 for r in rs if r.period == "1h" and not r.steps)


@cache
def network(name: str = "phu-quoc") -> boards.Registry:
    return boards.registry(name)


def is_air(station: boards.Station) -> bool:
    return station.kind in AIR_KINDS


@cache
def report_s(station_id: str) -> int:
    """The station's report period (its profile's): data older than two of them is stale."""
    return int(boards.profile(network().get(station_id).profile)["report_s"])
