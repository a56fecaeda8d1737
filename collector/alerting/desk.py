"""What people do with alerts: acknowledge them, silence a station, and be called when nobody
answers (escalation). Pure bookkeeping; the alerts stage feeds it and turns what it says into
`alert` points (collector/processors/alerts/people.py).

Kept apart from the engine (collector/alerting/engine.py) on purpose: the engine says whether a
condition holds (an alert is `open` or `closed`), the desk says who has seen it. Any later
kind of alert (a forecast warning) that has an id gets acknowledgement, silences and escalation
from here without a change, whatever its own states are.

- **acknowledgement**: an operator's `ack` of an alert id, with who, when and a note; an
  acknowledged alert never escalates further. An alert closed but not acknowledged can still be
  acknowledged (kept `KEEP_S` after it closes).
- **silence**: a station's alerts about a time between `start` and `until`, or judged while
  the window lasts, are stored marked silenced and reach no person. A silence comes from an
  operator (planned maintenance) or from the station itself: while its readings carry device
  status 01 (calibrating), it is silenced (`source` `calibration`).
- **escalation**: an alert of a chain severity that nobody acknowledged goes, `after_s` after it
  reached level k, to the contacts of level k + 1, once per level, until the last level.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from collector.alerting.engine import SEVERITIES
from collector.contracts import Point

CHANNELS = ("email", "webhook", "zalo", "telegram")
ACTS = ("ack", "silence", "unsilence")
KEEP_S = 7 * 86400  # a closed alert may still be acknowledged this long
ALERT_ID = re.compile(r"^([a-z0-9][a-z0-9-]{1,31})/([A-Za-z0-9_.:-]{1,128})/(\d{9,11})$")
MAX_TEXT = 500
CHAT_ID = re.compile(r"-?[0-9]{1,32}|@[A-Za-z0-9_]{5,32}")  # a Zalo/Telegram user or chat id
# An answer's times: after 2023-11 (older is a clock never set) and before 2100 (later is a
# typo); outside them a point's nanosecond time or a local date would not even be computable.
FIRST_T, LAST_T = 1_700_000_000, 4_102_444_800


class AnswerError(ValueError):
    """An answer the desk cannot take: the message says what is wrong."""


# -- the contact chain -----------------------------------------------------------------------

@dataclass(frozen=True)
class Chain:
    """Levels of contacts (1 first): each a channel → addresses map. `severities`: the alerts
    that follow the chain; `after_s`: how long a level waits for an acknowledgement."""

    levels: dict[int, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    severities: tuple[str, ...] = ()
    after_s: float = 1800.0

    def follows(self, severity: str) -> bool:
        return bool(self.levels) and severity in self.severities

    def to(self, *levels: int) -> dict[str, list[str]]:
        """The addresses of these levels, per channel, each once, in level order."""
        out: dict[str, list[str]] = {}
        for lv in levels:
            for ch, addrs in self.levels.get(lv, {}).items():
                have = out.setdefault(ch, [])
                have += [a for a in addrs if a not in have]
        return out

    def next_level(self, level: int) -> int | None:
        later = [lv for lv in self.levels if lv > level]
        return min(later) if later else None


def parse_contact(text: str) -> tuple[int, dict[str, tuple[str, ...]]]:
    """"<level> <channel>:<address> …" (`2 email:tp@so.example telegram:123456`) → (level,
    channel → addresses). ValueError names what is wrong."""
    parts = text.split()
    if len(parts) < 2 or not parts[0].isdigit() or not 1 <= int(parts[0]) <= 9:
        raise ValueError(f"contact {text!r}: expected '<level 1-9> <channel>:<address> …'")
    out: dict[str, list[str]] = {}
    for p in parts[1:]:
        ch, sep, addr = p.partition(":")
        if not sep or not addr:
            raise ValueError(f"contact {text!r}: {p!r} is not <channel>:<address>")
        if ch not in CHANNELS:
            raise ValueError(f"contact {text!r}: channel {ch!r} is not one of "
                             f"{', '.join(CHANNELS)}")
        if ch == "email" and "@" not in addr:
            raise ValueError(f"contact {text!r}: {addr!r} is not an e-mail address")
        if ch == "webhook" and not addr.startswith(("http://", "https://")):
            raise ValueError(f"contact {text!r}: {addr!r} is not an http(s) URL")
        if ch in ("zalo", "telegram") and not CHAT_ID.fullmatch(addr):
            raise ValueError(f"contact {text!r}: {addr!r} is not a {ch} user or chat id")
        out.setdefault(ch, []).append(addr)
    return int(parts[0]), {k: tuple(v) for k, v in out.items()}


def chain(contacts: tuple[str, ...], severities: tuple[str, ...], after_s: float) -> Chain:
    levels: dict[int, dict[str, tuple[str, ...]]] = {}
    for c in contacts:
        level, channels = parse_contact(c)
        have = levels.setdefault(level, {})
        for ch, addrs in channels.items():
            have[ch] = have.get(ch, ()) + addrs
    return Chain(dict(sorted(levels.items())), tuple(severities), after_s)


# -- answers (protocol v1 `answer`, from the operator) ---------------------------------------

@dataclass(frozen=True)
class Answer:
    act: str
    station: str
    by: str
    t: int
    id: str = ""  # the answer's own id (the CLI's), for the log
    alert: str = ""  # ack: the alert id
    note: str = ""  # ack: the note; silence: the reason
    start: int = 0  # silence
    until: int = 0  # silence


def parse_answer(payload: bytes, station: str) -> Answer:
    """One `answer` message published on quantrac/v1/<station>/answer; AnswerError naming the
    first thing wrong."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as e:
        raise AnswerError(f"answer is not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise AnswerError("answer: not a protocol-v1 object (\"v\": 1)")
    act = doc.get("act")
    if act not in ACTS:
        raise AnswerError(f"act: {act!r} is not one of {', '.join(ACTS)}")
    by, t = doc.get("by"), doc.get("t")
    if not isinstance(by, str) or not by.strip() or len(by) > 64:
        raise AnswerError("by: who answers must be named (1-64 characters)")
    t = _epoch("t", t)
    text = doc.get("note", doc.get("reason", ""))
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise AnswerError(f"note/reason: a text of at most {MAX_TEXT} characters")
    aid = str(doc.get("id", ""))[:64]
    if act == "ack":
        alert = doc.get("alert")
        m = ALERT_ID.match(alert) if isinstance(alert, str) else None
        if m is None:
            raise AnswerError(f"alert: {alert!r} is not an alert id <station>/<rule>/<time>")
        if m.group(1) != station:
            raise AnswerError(f"alert: {alert!r} is not an alert of {station}, the topic's "
                              "station")
        return Answer("ack", station, by.strip(), t, aid, alert=alert, note=text)
    if act == "unsilence":  # ends what covers now: its own times are not read
        return Answer(act, station, by.strip(), t, aid, note=text)
    if not text.strip():
        raise AnswerError("reason: a silence needs a reason")
    start = _epoch("from", doc.get("from", t))
    until = _epoch("until", doc.get("until"))
    if until <= start:
        raise AnswerError(f"until: {until} is not after from: {start}")
    return Answer(act, station, by.strip(), t, aid, note=text, start=start, until=until)


def _epoch(name: str, v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not FIRST_T <= v < LAST_T:
        raise AnswerError(f"{name}: {v!r} is not an epoch time in seconds (2023-2099)")
    return v


def local_time(t: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M")


# -- the desk ----------------------------------------------------------------------------------

@dataclass
class Silence:
    start: int
    until: int  # 0: open-ended (calibration: until the station measures again)
    reason: str
    by: str
    source: str  # operator | calibration

    def covers(self, t: float) -> bool:
        return self.start <= t and (self.until == 0 or t < self.until)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Desk:
    """Per alert id: its last payload, the level it reached and when, its acknowledgement; per
    station: its silences. `state()`/`restore()` keep all of it across restarts."""

    def __init__(self, chain_: Chain | None = None) -> None:
        self.chain = chain_ or Chain()
        self.alerts: dict[str, dict[str, Any]] = {}
        self.silences: dict[str, list[Silence]] = {}

    # silences
    def silence_at(self, station: str, t: float) -> Silence | None:
        for s in self.silences.get(station, ()):
            if s.covers(t):
                return s
        return None

    def silence(self, a: Answer) -> Silence:
        s = Silence(a.start, a.until, a.note, a.by, "operator")
        self.silences.setdefault(a.station, []).append(s)
        return s

    def unsilence(self, station: str, now: int) -> list[Silence]:
        """Ends the operator's silences of a station that cover `now`; the ones ended."""
        ended = [s for s in self.silences.get(station, ()) if s.source == "operator"
                 and s.covers(now)]
        for s in ended:
            s.until = now
        return ended

    def calibrating(self, station: str, on: bool, t: int) -> Silence | None:
        """Device status 01 seen (on) or a reading in another status (off) at record time
        `t`: the calibration silence that began or ended, else None."""
        cur = next((s for s in self.silences.get(station, ())
                    if s.source == "calibration" and s.until == 0), None)
        if on and cur is None:
            s = Silence(t, 0, "calibration (device status 01)", station, "calibration")
            self.silences.setdefault(station, []).append(s)
            return s
        if not on and cur is not None and t >= cur.start:
            cur.until = t
            return cur
        return None

    # alerts
    def opened(self, alert_id: str, doc: dict[str, Any], now: float, silenced: bool) -> bool:
        """Track a new alert; True when it follows the chain (level 1 is notified)."""
        follows = self.chain.follows(str(doc.get("severity"))) and not silenced
        self.alerts[alert_id] = {"doc": doc, "level": 1 if follows else 0, "at": now,
                                 "follows": follows}
        return follows

    def updated(self, alert_id: str, doc: dict[str, Any], now: float) -> None:
        a = self.alerts.get(alert_id)
        if a is not None:
            a["doc"] = doc
            if doc.get("state") == "closed":
                a["closed"] = now

    def ack(self, a: Answer, now: float) -> dict[str, Any]:
        """The tracked alert, now acknowledged; AnswerError when unknown or already acked."""
        alert = self.alerts.get(a.alert)
        if alert is None:
            raise AnswerError(f"alert {a.alert!r}: no such alert open or closed in the last "
                              f"{KEEP_S // 86400} days at {a.station}")
        mine = {"by": a.by, "t": a.t, "note": a.note}
        if alert.get("ack") == mine:  # the same answer again (QoS 1 redelivers): taken once
            return alert
        if "ack" in alert:
            prev = alert["ack"]
            raise AnswerError(f"alert {a.alert!r}: already acknowledged by {prev['by']} at "
                              f"{prev['t']}")
        alert["ack"] = mine
        return alert

    def reached(self, alert_id: str) -> list[int]:
        a = self.alerts.get(alert_id)
        if a is None or not a.get("follows"):
            return []
        return [lv for lv in self.chain.levels if lv <= a["level"]]

    def due(self, now: float) -> list[tuple[str, dict[str, Any], int]]:
        """(alert id, alert, next level) for each alert whose level waited `after_s` without an
        acknowledgement; moves it there (once per level)."""
        out = []
        for aid, a in self.alerts.items():
            if (not a.get("follows") or "ack" in a or "closed" in a
                    or now < a["at"] + self.chain.after_s):
                continue
            nxt = self.chain.next_level(a["level"])
            if nxt is None:
                continue
            a["level"], a["at"] = nxt, now
            out.append((aid, a, nxt))
        return out

    def prune(self, now: float) -> None:
        self.alerts = {k: a for k, a in self.alerts.items()
                       if now - a.get("closed", now) < KEEP_S}
        for st, ss in list(self.silences.items()):
            kept = [s for s in ss if s.until == 0 or now - s.until < KEEP_S]
            if kept:
                self.silences[st] = kept
            else:
                del self.silences[st]

    def state(self) -> dict[str, Any]:
        return {"alerts": self.alerts,
                "silences": {st: [s.to_json() for s in ss] for st, ss in self.silences.items()}}

    def restore(self, d: dict[str, Any]) -> None:
        alerts = d.get("alerts", {})
        if not isinstance(alerts, dict) or not all(isinstance(a, dict) and "doc" in a
                                                   for a in alerts.values()):
            raise ValueError("desk: alerts is not a map of alert id to its record")
        self.alerts = alerts
        self.silences = {str(st): [Silence(**s) for s in ss]
                         for st, ss in d.get("silences", {}).items()}


# -- what the outputs read from an alert's payload -------------------------------------------

def reaches_people(note: dict[str, Any] | None) -> bool:
    """False for a silenced station's alert: stored and retained, sent to no person."""
    return not (note or {}).get("silenced")


def wanted(p: Point, min_severity: str) -> bool:
    """An output sends an alert point of at least `min_severity` that reaches people."""
    severity = p.tags.get("severity", "warning")
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)
    return rank >= SEVERITIES.index(min_severity) and reaches_people(p.note)


def addressed(note: dict[str, Any] | None, channel: str, own: tuple[str, ...]) -> list[str]:
    """An output's own recipients, then the contacts of the levels the alert reached on
    this channel (`to`), each once. An escalation goes to its new level only."""
    to = [str(a) for a in ((note or {}).get("to") or {}).get(channel, [])]
    if (note or {}).get("event") == "escalate":
        return list(dict.fromkeys(to))
    return list(dict.fromkeys([*own, *to]))
