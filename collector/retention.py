"""Retention as data: which InfluxDB retention policy holds each measurement, and for how long
(`collector/retention.json`).

Three places read it and must agree: `quantrac services up` creates or alters the policies
(collector/services/influxdb.py), the collector's InfluxDB sink writes each measurement into
its policy, and every query of a measurement outside the default policy names the policy
(`qualified`: the dashboards, the HIL checks). A measurement the file does not name goes to the
default policy, as InfluxDB itself would put it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from quantrac_common.files import load_json_object
from quantrac_common.influxql import quote_ident

FILE = Path(__file__).with_name("retention.json")
UNITS_S = {"ns": 1e-9, "u": 1e-6, "µ": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
           "d": 86400, "w": 604800}
DURATION = re.compile(r"(\d+)(ns|u|µ|ms|s|m|h|d|w)")
MIN_DURATION_S = 3600  # InfluxDB 1.x refuses a retention policy shorter than an hour
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class RetentionError(ValueError):
    """The retention file is not what the database can apply; the message names the key."""


@dataclass(frozen=True)
class Policy:
    name: str
    duration: str  # InfluxQL: "INF" or e.g. "3650d", "52w"
    default: bool
    confirmed: bool  # the figure comes from the department or the regulation, not a guess
    holds: str
    source: str

    @property
    def seconds(self) -> float | None:
        """The duration in seconds; None for INF (kept for ever)."""
        return duration_s(self.duration)


@dataclass(frozen=True)
class Retention:
    policies: dict[str, Policy]
    measurements: dict[str, str]  # measurement → policy name

    @property
    def default(self) -> str:
        return next(p.name for p in self.policies.values() if p.default)

    def policy(self, measurement: str) -> str:
        """The policy `measurement` is written to and read from."""
        rp = self.measurements.get(measurement)
        return self.default if rp is None else rp  # `default` walks the policies: only if needed

    def qualified(self, measurement: str) -> str:
        """`"measurement"`, or `"policy"."measurement"` outside the default policy: what a
        FROM clause needs, since an unqualified name reads only the default policy."""
        rp = self.policy(measurement)
        if rp == self.default:
            return quote_ident(measurement)
        return f"{quote_ident(rp)}.{quote_ident(measurement)}"


def duration_s(text: str) -> float | None:
    """Seconds of an InfluxQL duration (`3650d`, `1h30m`); None for `INF`."""
    if text == "INF":
        return None
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise RetentionError(f"duration {text!r}: not INF or an InfluxQL duration like 3650d, "
                             "52w, 720h")
    return sum(int(n) * UNITS_S[u] for n, u in parts)


def _policy(name: str, doc: object, where: str) -> Policy:
    if not NAME.fullmatch(name):
        raise RetentionError(f"{where}: policy name {name!r} must be letters, digits and _")
    if not isinstance(doc, dict):
        raise RetentionError(f"{where}: policies.{name} must be an object")
    known = {"default", "duration", "holds", "confirmed", "source"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise RetentionError(f"{where}: policies.{name}.{unknown[0]}: unknown key "
                             f"(known: {', '.join(sorted(known))})")
    duration = doc.get("duration")
    if not isinstance(duration, str):
        raise RetentionError(f"{where}: policies.{name}.duration must be a string such as "
                             f"\"INF\" or \"3650d\", got {duration!r}")
    try:
        seconds = duration_s(duration)
    except RetentionError as e:
        raise RetentionError(f"{where}: policies.{name}.{e}") from None
    if seconds is not None and seconds < MIN_DURATION_S:
        raise RetentionError(f"{where}: policies.{name}.duration {duration!r} is shorter than "
                             "the hour InfluxDB accepts")
    for key in ("default", "confirmed"):
        if not isinstance(doc.get(key, False), bool):
            raise RetentionError(f"{where}: policies.{name}.{key} must be true or false")
    for key in ("holds", "source"):
        if not isinstance(doc.get(key, ""), str):
            raise RetentionError(f"{where}: policies.{name}.{key} must be text")
    return Policy(name, duration, doc.get("default", False), doc.get("confirmed", False),
                  doc.get("holds", ""), doc.get("source", ""))


def parse(doc: object, where: str = "retention") -> Retention:
    """A Retention from the file's JSON; RetentionError naming the key when it is wrong."""
    if not isinstance(doc, dict):
        raise RetentionError(f"{where}: must be a JSON object")
    policies_doc, measurements = doc.get("policies"), doc.get("measurements")
    if not isinstance(policies_doc, dict) or not policies_doc:
        raise RetentionError(f"{where}: policies must be a non-empty object")
    if not isinstance(measurements, dict):
        raise RetentionError(f"{where}: measurements must be an object")
    policies = {name: _policy(name, body, where) for name, body in policies_doc.items()}
    defaults = [p.name for p in policies.values() if p.default]
    if len(defaults) != 1:
        raise RetentionError(f"{where}: exactly one policy must be the default, found "
                             f"{defaults or 'none'}")
    for m, rp in measurements.items():
        if rp not in policies:
            raise RetentionError(f"{where}: measurements.{m} = {rp!r} is not a policy "
                                 f"(policies: {', '.join(policies)})")
    return Retention(policies, dict(measurements))


def load(path: Path | str = FILE) -> Retention:
    path = Path(path)
    return parse(load_json_object(path, RetentionError), str(path))


@functools.cache
def shipped() -> Retention:
    """The project's retention file, read once per process."""
    return load(FILE)
