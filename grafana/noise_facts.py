"""What the noise dashboard and the wall's noise panel show that is data elsewhere: the
stations with a noise regime (registry `noise`, the department's file) and the limits of the
regulation judging them, by period of the day (collector/alerting/noise_regime.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from collector.alerting import noise_regime
from grafana import facts


@dataclass(frozen=True)
class NoiseLimit:
    regulation: str
    area: str
    period: str
    label: dict[str, str]
    limit: float
    until: date | None  # the regime's last day (QCVN 26:2010: 2026-12-31)


def regimes(registry: str = "phu-quoc") -> dict[str, list[noise_regime.Regime]]:
    rs = facts.rule_set()
    return noise_regime.for_registry(registry, rs.regulations, rs.department)


def stations(registry: str = "phu-quoc") -> tuple[str, ...]:
    """Stations that carry a sound-level meter and have a noise regime."""
    return tuple(sorted(regimes(registry)))


def limits(registry: str = "phu-quoc") -> tuple[NoiseLimit, ...]:
    """Every limit a noise station is judged by, each once (the generated dashboards do
    not depend on the day they are built)."""
    out: dict[tuple[str, str, str], NoiseLimit] = {}
    for rs in regimes(registry).values():
        for r in rs:
            if not r.judged:
                continue
            for lim in r.limits:
                if lim.max is not None:
                    out[(r.regulation, r.area, lim.period.name)] = NoiseLimit(
                        r.regulation, r.area, lim.period.name, lim.label, lim.max, r.last)
    return tuple(sorted(out.values(), key=lambda x: (x.regulation, x.area, -x.limit)))


def unjudged(registry: str = "phu-quoc") -> tuple[str, ...]:
    """The regulations some station will be judged by whose clock hours or area are not
    found (QCVN 26:2025): said in the panel descriptions, never drawn as a line."""
    return tuple(sorted({r.regulation for rs in regimes(registry).values() for r in rs
                         if not r.judged}))
