"""Noise judged the way QCVN 26 reads: hourly LAeq against the limit of the period of the day
the hour falls in, and each whole period's LAeq when the period is over.

- An hourly `laeq` mean (the aggregate stage's energy mean) above the limit of its period
  (the station's regime that day: collector/alerting/noise_regime.py) opens a noise alert on
  the rule `<rule set>.laeq.<period>` (qcvn26_2010.laeq.night), with the rule's hysteresis;
  it closes when an hour of that period is back by the hysteresis inside the limit, or when
  the period is over (the next period's limit is another rule's business). One alert per
  episode: the engine keeps one state per (station, rule).
- When an hour at or after a period's end arrives, the period's LAeq (the energy mean of its
  complete hourly LAeq values, never their arithmetic mean) is judged against its limit and
  stored as a `noise_period` point at the period's end, for the bulletin and the e-gov side.
  A late hour inside a judged period judges it again (the point is overwritten). A station
  gone silent (no data for its offline window) has its last period judged by the collector's
  clock once the period's end plus `day_grace_s` has passed (`due`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from collector.alerting import noise_regime
from collector.alerting.engine import Alerts, Observation, Rule, State, Transition
from collector.contracts import HOUR_S, Point
from collector.domain import noise

MEASUREMENT = "noise_period"
KEEP_S = 48 * HOUR_S
COMPLETE_SHARE = 0.75  # of a period's hours, as for a day's mean


@dataclass(frozen=True)
class Instance:
    """One period on one local day: its first hour start and its end (UTC epoch s)."""

    regime: noise_regime.Regime
    limit: noise_regime.Limit
    start: int
    end: int


def _instance(regime: noise_regime.Regime, hour_start: int, tz: tzinfo) -> Instance:
    local = datetime.fromtimestamp(hour_start, tz)
    lim = regime.period_of(local.hour)
    p = lim.period
    assert p.start is not None and p.end is not None
    begin = local.replace(hour=p.start, minute=0, second=0, microsecond=0)
    if begin > local:
        begin -= timedelta(days=1)
    length = (p.end - p.start) % 24
    end = begin + timedelta(hours=length)
    return Instance(regime, lim, int(begin.timestamp()), int(end.timestamp()))


def regime_on(regimes: list[noise_regime.Regime], hour_start: int,
              tz: tzinfo) -> noise_regime.Regime | None:
    """The regime judging the hour, by the local day its period began (a night that starts
    on 31 Dec 2026 is judged whole by the regulation of 31 Dec)."""
    local = datetime.fromtimestamp(hour_start, tz)
    r = noise_regime.at(regimes, local.date())
    if r is None or not r.judged:
        return r
    inst = _instance(r, hour_start, tz)
    first = noise_regime.at(regimes, datetime.fromtimestamp(inst.start, tz).date())
    return first if first is not None else r


def rule(regime: noise_regime.Regime, lim: noise_regime.Limit,
         texts: dict[str, dict[str, str]], severity: str) -> Rule:
    """The engine rule of one period (texts carry the period's label, so `{period}` of the
    shared templates, which names averaging times, is not needed)."""
    filled = {event: {lang: t.replace("{noise_period}", lim.label[lang])
                      for lang, t in by_lang.items()}
              for event, by_lang in texts.items()}
    return Rule(id=f"{regime.rule_set}.{noise_regime.PARAM}.{lim.period.name}",
                signal="mean", above=lim.max, unit="dBA", hysteresis=lim.hysteresis,
                severity=severity, param=noise_regime.PARAM, period=lim.period.name,
                regulation=regime.regulation, texts={"limit_above": filled})


class NoiseJudge:
    """Hourly LAeq → noise alert transitions and `noise_period` points, per station."""

    def __init__(self, regimes: dict[str, list[noise_regime.Regime]], tz: tzinfo,
                 texts: dict[str, dict[str, str]], severity: str = "warning") -> None:
        self.regimes = regimes
        self.tz = tz
        self.rules: dict[tuple[str, str, str], Rule] = {}
        for station, rs in regimes.items():
            for r in rs:
                for lim in r.limits:
                    if lim.max is not None and r.judged:
                        self.rules[(station, r.rule_set, lim.period.name)] = rule(
                            r, lim, texts, severity)
        # station → hour start → (hourly LAeq, complete)
        self.hours: dict[str, dict[int, tuple[float, bool]]] = {}
        self.judged: dict[str, dict[str, float | None]] = {}  # station → instance key → LAeq

    def all_rules(self) -> list[tuple[str, Rule]]:
        return [(st, r) for (st, _rs, _p), r in self.rules.items()]

    def hour(self, alerts: Alerts, station: str, t_end: int, value: float,
             complete: bool) -> tuple[list[Transition], list[Point]]:
        """One hourly LAeq (point time = hour end)."""
        regimes = self.regimes.get(station)
        if not regimes:
            return [], []
        start = t_end - HOUR_S
        r = regime_on(regimes, start, self.tz)
        if r is None or not r.judged:
            return [], []
        inst = _instance(r, start, self.tz)
        trs: list[Transition] = []
        here = self.rules.get((station, r.rule_set, inst.limit.period.name))
        # an alert of another period still open: its period is over
        for key, other in self.rules.items():
            if key[0] == station and other is not here:
                trs += _end(alerts, station, other, t_end, value)
        if here is not None:
            tr = alerts.observe(station, here, Observation(t_end, value, complete))
            if tr is not None:
                trs.append(tr)
        mine = self.hours.setdefault(station, {})
        mine[start] = (value, complete)
        newest = max(mine)
        for h in [h for h in mine if h < newest - KEEP_S]:
            del mine[h]
        return trs, self._periods(station, start, newest)

    def due(self, now: float, silent: set[str], grace_s: float) -> list[Point]:
        """The period of a silent station's newest hour, once its end plus `grace_s` has
        passed by the collector's clock: no later hour will come to close it (a station
        back later judges it again with what it sends)."""
        out = []
        for station in sorted(silent & set(self.hours)):
            mine = self.hours[station]
            if not mine:
                continue
            newest = max(mine)
            r = regime_on(self.regimes.get(station, []), newest, self.tz)
            if r is None or not r.judged:
                continue
            inst = _instance(r, newest, self.tz)
            name = f"{r.rule_set}|{inst.limit.period.name}|{inst.start}"
            done = self.judged.setdefault(station, {})
            if name in done or inst.end + grace_s > now:
                continue
            p = self._judge(station, inst)
            done[name] = p.fields.get("laeq")  # type: ignore[assignment]
            out.append(p)
        return out

    def _periods(self, station: str, touched: int, newest: int) -> list[Point]:
        """Every period over by the newest hour that is not judged yet, or that the hour
        just received falls in."""
        out = []
        seen: set[tuple[str, str, int]] = set()
        done = self.judged.setdefault(station, {})
        for h in sorted(self.hours[station]):
            r = regime_on(self.regimes[station], h, self.tz)
            if r is None or not r.judged:
                continue
            inst = _instance(r, h, self.tz)
            key = (r.rule_set, inst.limit.period.name, inst.start)
            if key in seen or inst.end > newest + HOUR_S or inst.start < newest - KEEP_S:
                continue
            seen.add(key)
            name = f"{key[0]}|{key[1]}|{key[2]}"
            if name in done and not inst.start <= touched < inst.end:
                continue
            p = self._judge(station, inst)
            done[name] = p.fields.get("laeq")  # type: ignore[assignment]
            out.append(p)
        for name in [k for k in done if int(k.rsplit("|", 1)[1]) < newest - KEEP_S]:
            del done[name]
        return out

    def _judge(self, station: str, inst: Instance) -> Point:
        hours = range(inst.start, inst.end, HOUR_S)
        values = [self.hours[station][h][0] for h in hours
                  if h in self.hours[station] and self.hours[station][h][1]]
        expected = len(hours)
        fields: dict[str, float | int | bool | str] = {
            "n": len(values), "expected": expected,
            "complete": len(values) >= math.ceil(expected * COMPLETE_SHARE - 1e-9),
            "regulation": inst.regime.regulation, "status": inst.limit.status,
            "confidence": inst.limit.confidence, "hours_from": inst.regime.hours_source,
            "label_vi": inst.limit.label["vi"], "label_en": inst.limit.label["en"],
            "start": inst.start}
        if values:
            fields["laeq"] = noise.period_laeq(values)
        if inst.limit.max is not None:
            fields["limit"] = float(inst.limit.max)
            if values:
                fields["exceeded"] = fields["laeq"] > inst.limit.max  # type: ignore[operator]
                fields["margin"] = float(fields["laeq"]) - inst.limit.max  # type: ignore[arg-type]
        tags = {"station": station, "rule_set": inst.regime.rule_set,
                "period": inst.limit.period.name, "area": inst.regime.area}
        return Point(MEASUREMENT, tags, fields, inst.end)

    # -- state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"hours": {st: {str(h): [v, c] for h, (v, c) in sorted(hs.items())}
                          for st, hs in self.hours.items()},
                "judged": self.judged}

    def restore(self, d: dict[str, Any]) -> None:
        self.hours = {st: {int(h): (float(v), bool(c)) for h, (v, c) in hs.items()}
                      for st, hs in d.get("hours", {}).items()}
        self.judged = {st: {str(k): (None if v is None else float(v)) for k, v in j.items()}
                       for st, j in d.get("judged", {}).items()}


def _end(alerts: Alerts, station: str, rule: Rule, t: int, value: float) -> list[Transition]:
    """Close an alert whose period is over."""
    state = alerts.states.get((station, rule.id))
    if state is None or state.status != "open":
        if state is not None and state.status == "pending":
            alerts.states[(station, rule.id)] = State(t=state.t)
        return []
    alerts.states[(station, rule.id)] = State(t=t)
    return [Transition("close", station, rule, t, value, state.id or "",
                       state.since if state.since is not None else t, state.side,
                       state.limit, None)]
