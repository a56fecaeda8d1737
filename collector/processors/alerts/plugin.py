"""Means, indices and readings → alert transitions → `alert` points (with their payload).

Runs last in the chain. From a batch it judges:

- `mean` points against the station's regulation limits (each averaging period), converted
  to the limit's unit; the hourly ones also against the QC failure-rate rule;
- `aqi` points against the AQI band rule;
- readings' device status (02 = device error) against the sensor-error rule.

`tick(now, stats)`, which the pipeline calls every `tick_s` while it runs, judges what only
time shows: a station offline (no data for `missed_reports` × its report interval, or its
retained status / last will says `online: false`) and the collector's own stats (spool depth).

The engine (`collector/alerting/engine.py`) is pure; this stage feeds it and turns its
transitions into points. The pipeline stores them with the batch and then hands them to the
alert outputs (retained MQTT message, webhook, e-mail).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from zoneinfo import ZoneInfo

import boards
from collector.alerting import desk, messages, noise_regime, rules
from collector.alerting.engine import Alerts, Observation, Rule, Transition, parse_mute
from collector.alerting.units import to_unit
from collector.contracts import Batch, Point, topic_parts
from collector.plugins import Env, Plugin, register
from collector.processors.aggregate.means import needed
from collector.processors.alerts import daily, people
from collector.processors.alerts.noise import NoiseJudge
from collector.processors.alerts.options import AlertsOptions, check, department_file

log = logging.getLogger("quantrac.collector.alerts")
STATE_VERSION = 1
DEVICE_ERROR = 2
CALIBRATING = 1  # Circular 10 device status 01: the station's own maintenance window


class AlertsProcessor:
    name = "alerts"

    def __init__(self, registry: str = "phu-quoc", rules_dir: str = "",
                 mutes: tuple[str, ...] = (), hour_fraction: float = 0.75,
                 tick_s: float = 10.0, day_grace_s: float = 7200,
                 department: str = "", chain: desk.Chain | None = None) -> None:
        reg = boards.registry(registry)
        rs = rules.load(rules_dir or None, department or None)
        self.rules, warnings = rules.for_registry(rs, registry)
        for w in warnings:
            log.warning("alerts: %s", w)
        tz = ZoneInfo(reg.timezone)
        self.alerts = Alerts(tuple(parse_mute(m, tz) for m in mutes))
        self.tz = tz
        self.desk = desk.Desk(chain)
        self.stations = {s.id for s in reg.stations} | {rules.COLLECTOR}
        self.offline_s = {st: r.window_s for st, rs_ in self.rules.items() for r in rs_
                          if r.signal == "offline"}
        self.days = daily.DailyJudge(int(day_grace_s), tz, dict(self.offline_s))
        self.day_grace_s = float(day_grace_s)
        self.hour_fraction = hour_fraction
        self.tick_s = tick_s
        self.names: dict[str, Any] = {
            "stations": {s.id: s.name for s in reg.stations} | {rules.COLLECTOR: "Quantrac"},
            "params": rs.names, "units": rs.units, "periods": rs.periods}
        self._index: dict[tuple[str, str, str, str], list[Rule]] = {}
        for station, rs_ in self.rules.items():
            for r in rs_:
                self._index.setdefault((station, r.signal, r.param, r.period), []).append(r)
        self._by_id = {(st, r.id): r for st, rs_ in self.rules.items() for r in rs_}
        self.noise = _noise(rs, registry, tz)
        self._by_id.update({(st, r.id): r for st, r in self.noise.all_rules()})
        self.started = time.time()
        self._next_tick = 0.0
        self.last_data: dict[str, float] = {}
        self._warned: set[tuple[str, str]] = set()

    # -- Processor contract ----------------------------------------------------------------

    def process(self, batch: Batch) -> Batch:
        out: list[Point] = self._calibration(batch)
        for env in batch.envelopes:
            parts = topic_parts(env.topic)
            if parts and parts[1] == "data":
                self.last_data[parts[0]] = max(self.last_data.get(parts[0], 0.0), env.received_at)
        for p in list(batch.points):
            if p.measurement == "mean":
                out += self._mean(p)
                out += self._noise(p)
            elif p.measurement == "aqi" and "aqi" in p.fields:
                out += self._judge(p.station, "aqi", "", p.tags.get("period", ""),
                                   Observation(p.time, float(p.fields["aqi"]),
                                               # an AQI while a mean still fills up swings
                                               bool(p.fields.get("complete", True)),
                                               level=str(p.fields.get("band"))))
        for r in sorted(batch.readings, key=lambda r: r.time):
            self.days.records(r.station, r.time)
            out += self._judge(r.station, "status", r.param, "",
                               Observation(r.time, float(r.status == DEVICE_ERROR)))
        batch.points.extend(out)
        return batch

    def tick(self, now: float, stats: dict[str, Any]) -> list[Point]:
        """Offline stations and the collector's own stats, judged at `now` (every tick_s)."""
        if now < self._next_tick:
            return []
        self._next_tick = now + self.tick_s
        out: list[Point] = self._days(now)
        silent = {st for st, window in self.offline_s.items()
                  if now - max(self.last_data.get(st, 0.0), self.started) > window}
        out += self.noise.due(now, silent, self.day_grace_s)  # a silent station's last period
        out += people.escalations(self.desk, now, self._open_list)
        self.desk.prune(now)
        seen = stats.get("stations", {})
        for station, station_rules in self.rules.items():
            for rule in station_rules:
                if rule.signal == "offline":
                    since = max(self.last_data.get(station, 0.0), self.started)
                    offline = (seen.get(station, {}).get("online") is False
                               or now - since > rule.window_s)
                    out += self._one(station, rule, Observation(int(now), float(offline)))
                elif rule.signal == "stat":
                    value = _stat(stats, rule.path, rule.per)
                    if value is not None:
                        out += self._one(station, rule, Observation(int(now), value))
        return out

    def own(self, stations: frozenset[str], leader: bool) -> None:
        """One worker of several: judge only these stations' silence (another worker judges
        the rest); the collector-wide rules in the leader only."""
        self.rules = {st: r for st, r in self.rules.items()
                      if st in stations or (leader and st == rules.COLLECTOR)}

    def state(self) -> dict[str, Any]:
        return {"v": STATE_VERSION, "alerts": self.alerts.state(), "last_data": self.last_data,
                "days": self.days.state(), "desk": self.desk.state(),
                "noise": self.noise.state()}

    def restore(self, state: dict[str, Any]) -> None:
        try:
            if state.get("v") != STATE_VERSION:
                raise ValueError(f"state version {state.get('v')!r}, expected {STATE_VERSION}")
            self.alerts.restore(state["alerts"])
            self.last_data = {str(k): float(v) for k, v in state["last_data"].items()}
            if "days" in state:  # absent in a state saved before days were judged whole
                self.days.restore(state["days"])
            if "desk" in state:  # absent before alerts were acknowledged
                self.desk.restore(state["desk"])
            if "noise" in state:  # absent before noise was judged
                self.noise.restore(state["noise"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            log.warning("alerts: saved state unreadable (%s); starting with no open alerts", e)
            self.alerts.restore({})

    def open_alerts(self) -> dict[str, list[str]]:
        """Station → rule ids of its open alerts (for status and metrics)."""
        out: dict[str, list[str]] = {}
        for station in {st for st, _ in self.alerts.states}:
            if opened := list(self.alerts.open_at(station)):
                out[station] = opened
        return dict(sorted(out.items()))

    def answer(self, station: str, payload: bytes, now: float | None = None) -> list[Point]:
        """An operator's answer (quantrac/v1/<station>/answer): an acknowledgement or a
        silence, as points; desk.AnswerError naming what is wrong (the caller dead-letters
        the message with it)."""
        now = time.time() if now is None else now
        if station not in self.stations:
            raise desk.AnswerError(f"topic: {station!r} is not a station of the registry")
        a = desk.parse_answer(payload, station)
        if a.act == "ack":
            self._adopt(a.alert, now)
            return people.ack(self.desk, a, now, self.tz, self._open_list)
        if a.act == "silence":
            s = self.desk.silence(a)
            log.info("alerts of %s silenced by %s until %s: %s", station, a.by,
                     desk.local_time(a.until, self.tz), a.note)
            return [people.maintenance(station, s)]
        ended = self.desk.unsilence(station, int(now))
        if not ended:
            raise desk.AnswerError(f"unsilence: {station} has no operator's silence now")
        return [people.maintenance(station, s) for s in ended]

    # -- internals ---------------------------------------------------------------------------

    def _adopt(self, alert_id: str, now: float) -> None:
        """An alert still open from before the desk kept records (a state saved by an older
        collector) can be acknowledged all the same."""
        if alert_id in self.desk.alerts:
            return
        station, rule_id, _ = alert_id.split("/", 2)
        state = self.alerts.states.get((station, rule_id))
        rule = self._by_id.get((station, rule_id))
        if state is None or state.status != "open" or state.id != alert_id or rule is None:
            return
        doc = {"v": 1, "st": station, "rule": rule_id, "state": "open", "t": state.t,
               "event": "open", "id": alert_id, "since": state.since,
               "severity": rule.severity, "unit": rule.unit, "text_vi": "", "text_en": ""}
        self.desk.alerts[alert_id] = {"doc": doc, "level": 0, "at": now, "follows": False}

    def _open_list(self, station: str) -> list[dict[str, Any]]:
        return [{"rule": r, "id": s.id, "since": s.since}
                for r, s in self.alerts.open_at(station).items()]

    def _calibration(self, batch: Batch) -> list[Point]:
        """Device status 01 silences the station (its own maintenance window) from the first
        record in it until a record in another status: a `maintenance` point at each edge,
        at record time, so a backlog replayed in one batch gets each of its windows."""
        on: dict[tuple[str, int], bool] = {}
        for r in batch.readings:
            key = (r.station, r.time)
            on[key] = on.get(key, False) or r.status == CALIBRATING
        out = []
        for (station, t), calibrating in sorted(on.items(), key=lambda kv: kv[0][1]):
            s = self.desk.calibrating(station, calibrating, t)
            if s is not None:
                out.append(people.maintenance(station, s))
        return out

    def _mean(self, p: Point) -> list[Point]:
        station, param, period = p.station, p.tags.get("param", ""), p.tags.get("period", "")
        out: list[Point] = []
        value = p.fields.get("value")
        if isinstance(value, float):
            for rule in self._index.get((station, "mean", param, period), []):
                x = to_unit(param, value, p.tags.get("unit", ""), rule.unit)
                if x is None:
                    self._warn(station, rule, p.tags.get("unit", ""))
                    continue
                if period == daily.PERIOD:  # judged once the day is over: see tick()
                    self.days.note(station, rule, p.time, x, bool(p.fields.get("complete")))
                    continue
                out += self._one(station, rule,
                                 Observation(p.time, x, bool(p.fields.get("complete"))))
        records, expected = p.fields.get("records"), p.fields.get("expected")
        if period == "1h" and isinstance(records, int) and isinstance(expected, int) and records:
            share = 100.0 * int(p.fields.get("qc_fail", 0)) / records
            complete = records >= needed(expected, self.hour_fraction)
            out += self._judge(station, "qc_fail", param, "",
                               Observation(p.time, share, complete))
        return out

    def _noise(self, p: Point) -> list[Point]:
        """An hourly LAeq: noise alerts by period of the day, and periods judged whole."""
        value = p.fields.get("value")
        if p.tags.get("param") != noise_regime.PARAM or p.tags.get("period") != "1h" \
                or not isinstance(value, float):
            return []
        trs, points = self.noise.hour(self.alerts, p.station, p.time, value,
                                      bool(p.fields.get("complete")))
        return [self._point(tr) for tr in trs] + points

    def _days(self, now: float) -> list[Point]:
        """Days now over (or changed by late records): a `daily_limit` point each, and the
        alert transitions they cause."""
        out: list[Point] = []
        for due in self.days.due(now, self.last_data, self.started):
            rule = self._by_id.get((due.station, due.rule))
            if rule is None:  # a rule gone from the rules folder since the state was saved
                continue
            out.append(daily.point(rule, due, self.days.tz))
            out += [self._point(tr) for tr in daily.judge(self.alerts, rule, due, self.days.tz)]
        return out

    def _judge(self, station: str, signal: str, param: str, period: str,
               obs: Observation) -> list[Point]:
        out: list[Point] = []
        for rule in self._index.get((station, signal, param, period), []):
            out += self._one(station, rule, obs)
        return out

    def _one(self, station: str, rule: Rule, obs: Observation) -> list[Point]:
        tr = self.alerts.observe(station, rule, obs)
        return [] if tr is None else [self._point(tr)]

    def _point(self, tr: Transition) -> Point:
        text = messages.texts(tr, self.names)
        doc = messages.payload(tr, text, self.alerts.open_at(tr.station))
        log.log(logging.WARNING if tr.event != "close" else logging.INFO, "alert %s: %s",
                tr.event, text["en"])
        return people.decorate(self.desk, messages.point(tr, text, doc), time.time())

    def _warn(self, station: str, rule: Rule, unit: str) -> None:
        if (station, rule.id) not in self._warned:
            self._warned.add((station, rule.id))
            log.warning("alerts: %s %s: no conversion from %r to the limit's %r; rule skipped",
                        station, rule.id, unit, rule.unit)


def _noise(rs: rules.RuleSet, registry: str, tz: ZoneInfo) -> NoiseJudge:
    regimes = noise_regime.for_registry(registry, rs.regulations, rs.department,
                                        float(rs.defaults["hysteresis_pct"]))
    for station, rs_ in regimes.items():
        for r in rs_:
            for problem in r.problems:
                log.warning("alerts: station %s: %s", station, problem)
    # a province's rules folder from before noise: the shipped texts
    texts = rs.texts.get("noise") or rules.load().texts["noise"]
    return NoiseJudge(regimes, tz, texts, rs.defaults["severity"])


def _stat(stats: dict[str, Any], path: str, per: str = "") -> float | None:
    """A number from the stats by dotted path; with `per`, as a percentage of another."""
    values = []
    for p in (path, per) if per else (path,):
        doc: Any = stats
        for part in p.split("."):
            doc = doc.get(part) if isinstance(doc, dict) else None
        if not isinstance(doc, int | float) or isinstance(doc, bool):
            return None
        values.append(float(doc))
    if per:
        return 100.0 * values[0] / values[1] if values[1] else None
    return values[0]


def build(o: AlertsOptions, env: Env) -> AlertsProcessor:
    # an hour's mean is complete for alerts when it is for the aggregate stage
    return AlertsProcessor(env.registry, o.rules, o.mutes, env.peer("aggregate").hour_fraction,
                           o.tick_s, o.day_grace_s, str(department_file(o, env.run_dir)),
                           desk.chain(o.contacts, o.escalate, o.escalate_after_s))


def _check(o: AlertsOptions, env: Env) -> None:
    check(o, env.registry, env.run_dir)
    notify, chat = env.peer("notify"), env.peer("chat")
    on = {"email": (bool(notify.smtp_host), "[sinks.notify] smtp_host"),
          "webhook": (bool(notify.webhook_url), "[sinks.notify] webhook_url"),
          "zalo": (chat.zalo, "[sinks.chat] zalo = true"),
          "telegram": (chat.telegram, "[sinks.chat] telegram = true")}
    for c in o.contacts:  # a contact nobody could reach is a chain with a hole in it
        for ch in desk.parse_contact(c)[1]:
            if not on[ch][0]:
                raise ValueError(f"contacts: {c!r} is reached by {ch}, but that output is off "
                                 f"(set {on[ch][1]})")


register(Plugin("processor", "alerts", AlertsOptions, build, _check, after=("aggregate",),
                reads=("aggregate", "notify", "chat")))
