"""Alert rules evaluated as pure functions: (rule, state, observation) → new state, transition.

One state per (station, rule), so at most one open alert per pair. The semantics, each one
answering a complaint operators have about alerting:

- **pending period**: a breach opens an alert only once it has lasted `pending_s` (the first
  breaching observation and one at least `pending_s` later, with no clear one between);
- **hysteresis**: an open alert closes only when the value is back by `hysteresis` inside
  the limit, so a value hovering at the limit (flapping) keeps one alert open;
- **recovery notice**: closing is a transition of its own (`close`);
- **levels**: an observation may carry a level (the AQI band); a level change while open is
  an `update` transition on the same alert;
- **mute window**: a muted observation neither opens, closes nor advances a pending alert;
- **no alert on an incomplete mean**: an incomplete observation is ignored entirely;
- **time order**: an observation older than the last one judged is ignored (a late
  recomputation updates stored means, not alert history); one at the same time replaces it.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any

SIGNALS = ("mean", "aqi", "qc_fail", "status", "offline", "stat")
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Rule:
    """One rule for one station; limits are in `unit`. `steps`: (from epoch, above, below)
    replacing the limits from that time on (PM2.5 45 µg/Nm³ from 2026)."""

    id: str
    signal: str
    above: float | None = None
    below: float | None = None
    unit: str = ""
    hysteresis: float = 0.0
    pending_s: int = 0
    severity: str = "warning"
    require_complete: bool = True
    param: str = ""
    period: str = ""
    regulation: str = ""
    # {"vi", "en"}: what {regulation} reads in texts when the limit is another regulation's
    # value carried as a fallback ("QCVN 14:2008/BTNMT, applied pending the … text")
    basis: dict[str, str] = field(default_factory=dict, compare=False)
    window_s: int = 0  # offline: silence that counts as offline
    path: str = ""  # stat: dotted path into the collector's stats
    per: str = ""  # stat: when set, the value is path / per in % (spool bytes of max bytes)
    steps: tuple[tuple[int, float | None, float | None], ...] = ()
    texts: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict, compare=False)

    def limits(self, t: int) -> tuple[float | None, float | None]:
        above, below = self.above, self.below
        for since, a, b in self.steps:
            if t >= since:
                above, below = a, b
        return above, below


# Observation and State are never changed after they are made (step returns new ones), but are
# not frozen: a frozen __init__ costs a setattr call per field, and every reading makes both.
@dataclass
class Observation:
    t: int
    value: float
    complete: bool = True
    level: str | None = None


@dataclass
class State:
    status: str = "ok"  # ok | pending | open
    since: int | None = None  # when the breach began
    t: int | None = None  # the last observation judged
    id: str | None = None
    level: str | None = None
    side: str | None = None  # "above" | "below": which limit the open alert is about
    limit: float | None = None
    opened: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> State:
        if d.get("status") not in ("ok", "pending", "open"):
            raise ValueError(f"status {d.get('status')!r}")
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Transition:
    event: str  # open | update | close
    station: str
    rule: Rule
    t: int
    value: float
    id: str
    since: int
    side: str | None
    limit: float | None
    level: str | None
    # a day judged again (days.py): {"revision", "reason", "previous", "day"}
    correction: dict[str, Any] | None = None


def breach(rule: Rule, value: float, t: int) -> tuple[str, float] | None:
    """("above"|"below", the limit crossed) when `value` breaks a limit at time t."""
    above, below = rule.limits(t)
    if above is not None and value > above:
        return "above", above
    if below is not None and value < below:
        return "below", below
    return None


def cleared(rule: Rule, value: float, t: int) -> bool:
    """Back inside every limit by at least the hysteresis."""
    above, below = rule.limits(t)
    return ((above is None or value <= above - rule.hysteresis)
            and (below is None or value >= below + rule.hysteresis))


def step(rule: Rule, station: str, state: State, obs: Observation,
         muted: bool = False) -> tuple[State, Transition | None]:
    """Judge one observation."""
    if state.t is not None and obs.t < state.t:
        return state, None
    if rule.require_complete and not obs.complete:
        return state, None
    if muted:
        return (replace(state, t=obs.t) if state.status == "open"
                else State(t=obs.t)), None
    hit = breach(rule, obs.value, obs.t)
    if state.status == "open":
        if cleared(rule, obs.value, obs.t):
            return State(t=obs.t), _tr("close", station, rule, state, obs)
        if obs.level != state.level:
            new = replace(state, t=obs.t, level=obs.level)
            return new, _tr("update", station, rule, new, obs)
        return replace(state, t=obs.t), None
    if hit is None:
        return State(t=obs.t), None
    since = state.since if state.status == "pending" and state.since is not None else obs.t
    if obs.t - since < rule.pending_s:
        return State("pending", since=since, t=obs.t), None
    new = State("open", since=since, t=obs.t, id=f"{station}/{rule.id}/{obs.t}",
                level=obs.level, side=hit[0], limit=hit[1], opened=obs.t)
    return new, _tr("open", station, rule, new, obs)


def _tr(event: str, station: str, rule: Rule, state: State, obs: Observation) -> Transition:
    return Transition(event, station, rule, obs.t, obs.value, state.id or "",
                      state.since if state.since is not None else obs.t, state.side,
                      state.limit, obs.level)


@dataclass(frozen=True)
class Mute:
    """No alert of a rule matching `rule` (glob) at a station matching `station` (glob)
    opens or closes between `start` and `end` (epoch seconds)."""

    station: str
    rule: str
    start: int
    end: int

    def covers(self, station: str, rule_id: str, t: int) -> bool:
        return (self.start <= t < self.end and fnmatch.fnmatchcase(station, self.station)
                and fnmatch.fnmatchcase(rule_id, self.rule))


def parse_mute(text: str, tz: tzinfo) -> Mute:
    """"<station glob> <rule glob> <start> <end>", times ISO 8601; without an offset they are
    local time (the registry's time zone). ValueError names what is wrong."""
    parts = text.split()
    if len(parts) != 4:
        raise ValueError(f"mute {text!r}: expected '<station> <rule> <start> <end>'")
    times = []
    for label, value in zip(("start", "end"), parts[2:], strict=True):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"mute {text!r}: {label} {value!r} is not an ISO 8601 time") from None
        times.append(int((dt if dt.tzinfo else dt.replace(tzinfo=tz)).timestamp()))
    if times[1] <= times[0]:
        raise ValueError(f"mute {text!r}: end is not after start")
    return Mute(parts[0], parts[1], times[0], times[1])


class Alerts:
    """The states of every (station, rule), with `observe` running `step` on them."""

    def __init__(self, mutes: tuple[Mute, ...] = ()) -> None:
        self.mutes = mutes
        self.states: dict[tuple[str, str], State] = {}

    def muted(self, station: str, rule_id: str, t: int) -> bool:
        return bool(self.mutes) and any(m.covers(station, rule_id, t) for m in self.mutes)

    def observe(self, station: str, rule: Rule, obs: Observation) -> Transition | None:
        key = (station, rule.id)
        state, tr = step(rule, station, self.states.get(key, State()), obs,
                         self.muted(station, rule.id, obs.t))
        self.states[key] = state
        return tr

    def open_at(self, station: str) -> dict[str, State]:
        return dict(sorted((rule, s) for (st, rule), s in self.states.items()
                           if st == station and s.status == "open"))

    def state(self) -> dict[str, Any]:
        return {f"{st}|{rule}": s.to_json() for (st, rule), s in self.states.items()
                if s.status != "ok" or s.t is not None}

    def restore(self, d: dict[str, Any]) -> None:
        states = {}
        for key, value in d.items():
            station, _, rule = key.partition("|")
            states[(station, rule)] = State.from_json(value)
        self.states = states
