"""VN_WQI (Decision 1460/QĐ-TCMT): sub-indices, DO saturation, group formula, classes.

Pure functions over measured values. Breakpoints, the DO saturation polynomial, the
data-sufficiency rule (unverified, so data), the kinds of station it applies to (surface
water) and the classes are data in `tables/vn_wqi_1460.json` (confidence B/C), so a province
can correct them without a release. Only parameters with a sub-index table can be given; with
pH, DO and NH4 alone the official VN_WQI is not computed and the index of what is at hand is
*indicative*, in its own field.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from collector.domain.aqi import round_half_up

TABLE_PATH = Path(__file__).resolve().parent / "tables" / "vn_wqi_1460.json"
GROUPS = ("I", "II", "III", "IV", "V")
# groups whose combination rule this module implements; the others always count as missing
COMPUTED_GROUPS = ("I", "IV")
PH_RANGE = (0.0, 14.0)


class WqiTableError(ValueError):
    """The VN_WQI table file is missing a key or holds a value the maths cannot use."""


@dataclass(frozen=True)
class Curve:
    """Piecewise-linear q(x): `below` left of the first point, `above` right of the last."""

    group: str
    unit: str
    below: float
    points: tuple[tuple[float, float], ...]
    above: float


@dataclass(frozen=True)
class WqiClass:
    key: str
    min: int
    vi: str
    en: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class WqiTable:
    curves: dict[str, Curve]
    do_sat_coefficients: tuple[float, ...]
    temp_range_c: tuple[float, float]
    official: dict[str, tuple[str, ...]]
    min_groups: int
    min_group_iv: int
    classes: tuple[WqiClass, ...]
    source: str
    confidence: str
    applies_to_kinds: tuple[str, ...] = ("surface_water",)
    sufficiency_basis: str = ""


@dataclass(frozen=True)
class WqiResult:
    """`wqi`/`cls`: the official VN_WQI, only when the data-sufficiency rule is met (status
    "computed"); otherwise None with `why`, and the index of the parameters at hand in
    `indicative`/`indicative_cls` (never to be published as VN_WQI)."""

    wqi: int | None
    cls: str | None
    status: str  # "computed" | "not_computed"
    why: str
    indicative: int | None
    indicative_cls: str | None
    sub: dict[str, float]


def _need(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise WqiTableError(f"{where}: {msg}")


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _curve(c: dict, where: str) -> Curve:
    pts = c.get("points")
    _need(isinstance(pts, list) and len(pts) >= 2
          and all(isinstance(p, list) and len(p) == 2 and all(_number(v) for v in p)
                  for p in pts), f"{where}.points", f"{pts!r} is not a list of [x, q] pairs")
    xs = [p[0] for p in pts]
    # equal x twice would be a jump inside the curve; jumps belong in below/above
    _need(all(a < b for a, b in zip(xs, xs[1:], strict=False)), f"{where}.points",
          f"x values {xs} must increase")
    _need(c.get("group") in COMPUTED_GROUPS, f"{where}.group",
          f"{c.get('group')!r}: only groups {', '.join(COMPUTED_GROUPS)} are computed")
    _need(_number(c.get("below")) and _number(c.get("above")), where,
          "below and above must be numbers")
    return Curve(c["group"], str(c.get("unit", "")), float(c["below"]),
                 tuple((float(x), float(q)) for x, q in pts), float(c["above"]))


def parse_table(doc: dict, where: str = "vn_wqi_1460.json") -> WqiTable:
    """Check a VN_WQI table document and freeze it; errors name the key."""
    subs = doc.get("sub_indices", {})
    for key in ("ph", "do_pct", "nh4"):
        _need(key in subs, f"{where}: sub_indices", f"{key} is missing")
    curves = {k: _curve(v, f"{where}: sub_indices.{k}") for k, v in subs.items()}
    sat = doc.get("do_saturation", {})
    coef, trange = sat.get("coefficients"), sat.get("temp_range_c")
    _need(isinstance(coef, list) and bool(coef) and all(_number(x) for x in coef),
          f"{where}: do_saturation.coefficients", f"{coef!r} is not a list of numbers")
    _need(isinstance(trange, list) and len(trange) == 2 and all(_number(x) for x in trange)
          and trange[0] < trange[1], f"{where}: do_saturation.temp_range_c",
          f"{trange!r} is not [low, high]")
    kinds = doc.get("applies_to_kinds", ["surface_water"])
    _need(isinstance(kinds, list) and all(isinstance(k, str) for k in kinds),
          f"{where}: applies_to_kinds", f"{kinds!r} is not a list of station kinds")
    official = doc.get("official_parameters", {})
    _need(all(isinstance(official.get(g), list) for g in GROUPS),
          f"{where}: official_parameters", f"needs a list for each of {', '.join(GROUPS)}")
    suff = doc.get("sufficiency", {})
    _need(isinstance(suff.get("min_groups"), int) and isinstance(suff.get("min_group_iv"), int),
          f"{where}: sufficiency", "min_groups and min_group_iv must be integers")
    classes = []
    for i, c in enumerate(doc.get("classes", [])):
        rgb = c.get("rgb")
        _need(isinstance(rgb, list) and len(rgb) == 3
              and all(isinstance(v, int) and 0 <= v <= 255 for v in rgb)
              and all(isinstance(c.get(k), str) for k in ("key", "vi", "en"))
              and isinstance(c.get("min"), int), f"{where}: classes[{i}]",
              "needs key, vi, en (text), min (integer) and rgb [r, g, b]")
        classes.append(WqiClass(c["key"], c["min"], c["vi"], c["en"], tuple(rgb)))
    mins = [c.min for c in classes]
    _need(bool(classes) and mins[0] == 0 and mins == sorted(set(mins)), f"{where}: classes",
          "minima must increase from 0")
    return WqiTable(curves=curves, do_sat_coefficients=tuple(coef),
                    temp_range_c=(float(trange[0]), float(trange[1])),
                    official={g: tuple(official[g]) for g in GROUPS},
                    min_groups=suff["min_groups"], min_group_iv=suff["min_group_iv"],
                    classes=tuple(classes), source=doc.get("source", ""),
                    confidence=doc.get("confidence", ""),
                    applies_to_kinds=tuple(kinds), sufficiency_basis=str(suff.get("basis", "")))


@cache
def default_table() -> WqiTable:
    """The table shipped with the collector, read once."""
    try:
        doc = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise WqiTableError(f"{TABLE_PATH.name}: cannot read ({e})") from None
    return parse_table(doc, TABLE_PATH.name)


def _check(name: str, x: object, lo: float = 0.0, hi: float = math.inf) -> float:
    if not _number(x):
        raise ValueError(f"{name}: {x!r} is not a number")
    if x < 0 <= lo and not math.isfinite(hi):
        raise ValueError(f"{name}: {x!r} is negative")
    if not lo <= x <= hi:
        raise ValueError(f"{name}: {x!r} is outside {lo:g}..{hi:g}")
    return float(x)


def q(param: str, value: float, table: WqiTable | None = None) -> float:
    """Sub-index of `value` on the curve of `param` (a key of the table's sub_indices)."""
    t = table or default_table()
    if param not in t.curves:
        raise ValueError(f"{param!r} has no sub-index table ({', '.join(t.curves)})")
    c = t.curves[param]
    x = _check(param, value, -math.inf)
    xs = [p[0] for p in c.points]
    if x < xs[0]:
        return c.below
    if x > xs[-1]:
        return c.above
    i = min(bisect_right(xs, x) - 1, len(xs) - 2)
    (x0, q0), (x1, q1) = c.points[i], c.points[i + 1]
    return (q1 - q0) * (x - x0) / (x1 - x0) + q0


def do_saturation(temp_c: float, table: WqiTable | None = None) -> float:
    """Dissolved oxygen at saturation (mg/L) at water temperature `temp_c`, the decision's cubic."""
    t = table or default_table()
    temp = _check("temp", temp_c, *t.temp_range_c)
    return sum(k * temp**n for n, k in enumerate(t.do_sat_coefficients))


def do_percent(do_mg_l: float, temp_c: float, table: WqiTable | None = None) -> float:
    """DO as % saturation: DO / DO_sat(T) × 100."""
    do = _check("do", do_mg_l)
    return do / do_saturation(temp_c, table) * 100


def sub_ph(ph: float, table: WqiTable | None = None) -> float:
    return q("ph", _check("ph", ph, *PH_RANGE), table)


def sub_do(do_mg_l: float, temp_c: float, table: WqiTable | None = None) -> float:
    return q("do_pct", do_percent(do_mg_l, temp_c, table), table)


def sub_nh4(mg_l: float, table: WqiTable | None = None) -> float:
    return q("nh4", _check("nh4", mg_l), table)


def combine(groups: Mapping[str, float]) -> float | None:
    """The group formula: I/100 · II/100 · III/100 · √(IV · V).

    A missing group I, II or III counts as 100; without group V the square root is dropped
    (… · IV). Group IV is required: without it there is no WQI.
    """
    if groups.get("IV") is None:
        return None
    factor = math.prod(groups.get(g, 100.0) / 100 for g in ("I", "II", "III"))
    if groups.get("V") is None:
        return factor * groups["IV"]
    return factor * math.sqrt(groups["IV"] * groups["V"])


def wqi_class(value: float, table: WqiTable | None = None) -> tuple[str, str, str,
                                                                      tuple[int, int, int]]:
    """(key, Vietnamese label, English label, (r, g, b)) of a WQI value."""
    t = table or default_table()
    v = round_half_up(_check("wqi", value))
    c = [c for c in t.classes if v >= c.min][-1]
    return c.key, c.vi, c.en, c.rgb


def inputs(table: WqiTable | None = None) -> tuple[str, ...]:
    """The keys `wqi()` accepts: do + temp for DO, and every other sub-index table's key."""
    t = table or default_table()
    return ("do", "temp", *(k for k in t.curves if k != "do_pct"))


def check_values(values: Mapping[str, object], table: WqiTable | None = None) -> None:
    """Raise ValueError naming the first unknown key or unusable value."""
    t = table or default_table()
    if not isinstance(values, Mapping):
        raise ValueError(f"expected {{param: value}}, got {type(values).__name__}")
    known = inputs(t)
    for key, x in values.items():
        if key not in known:
            group = next((g for g in GROUPS if key in t.official[g]), None)
            why = (f"a group {group} parameter without a sub-index table yet" if group
                   else "not a VN_WQI parameter")
            raise ValueError(f"{key!r} is {why} (accepted: {', '.join(known)})")
        if x is not None:
            _check(key, x, *(t.temp_range_c if key == "temp" else PH_RANGE if key == "ph"
                             else (0.0, math.inf)))
    if values.get("do") is not None and values.get("temp") is None:
        raise ValueError("do: needs temp (°C) to convert to % saturation")


def refusal(kind: str, table: WqiTable | None = None) -> str | None:
    """Why VN_WQI is not computed at all for a station of `kind` (None: it applies)."""
    t = table or default_table()
    if kind in t.applies_to_kinds:
        return None
    return (f"VN_WQI (Decision 1460) is for surface water only ({', '.join(t.applies_to_kinds)}"
            f"); a {kind.replace('_', ' ')} station gets none, neither official nor "
            "indicative")


def _insufficient(members: Mapping[str, list[float]], t: WqiTable) -> str:
    """Why the data-sufficiency rule is not met ("" when it is)."""
    iv = len(members.get("IV", []))
    if len(members) >= t.min_groups and iv >= t.min_group_iv:
        return ""
    have = ", ".join(sorted(members)) or "none"
    return (f"data sufficiency not met: needs at least {t.min_groups} of the 5 groups with "
            f"group IV among them and at least {t.min_group_iv} group IV parameters; have "
            f"{len(members)} group(s) ({have}) and {iv} group IV parameter(s)"
            + (f" [rule: {t.sufficiency_basis}]" if t.sufficiency_basis else ""))


def wqi(values: Mapping[str, float | None], table: WqiTable | None = None) -> WqiResult:
    """VN_WQI of one set of surface-water values: {"ph", "do" mg/L, "temp" °C, "nh4" mg/L
    as N, …}.

    `None` marks a parameter not measured. `sub` holds each sub-index (rounded to 2 places,
    the index uses the exact ones). The official VN_WQI is computed only when the table's
    data-sufficiency rule is met (pH, DO and NH4 alone never meet it); otherwise it is
    "not_computed" with the reason, and the index of the parameters at hand is `indicative`.
    """
    t = table or default_table()
    check_values(values, t)
    sub: dict[str, float] = {}
    for key, x in values.items():
        if x is None or key == "temp":
            continue
        sub[key] = sub_do(x, values["temp"], t) if key == "do" else q(key, x, t)
    members: dict[str, list[float]] = {}
    for key, s in sub.items():
        members.setdefault(t.curves["do_pct" if key == "do" else key].group, []).append(s)
    # group I is pH alone; group IV is the arithmetic mean of its sub-indices
    groups = {g: sum(v) / len(v) for g, v in members.items()}
    value = combine(groups)
    rounded = {k: round(s, 2) for k, s in sub.items()}
    why = _insufficient(members, t)
    if value is None:
        why = why or "no group IV parameter"
        return WqiResult(None, None, "not_computed", why, None, None, rounded)
    index, cls = round_half_up(value), wqi_class(value, t)[0]
    if why:
        return WqiResult(None, None, "not_computed", why, index, cls, rounded)
    return WqiResult(index, cls, "computed", "", None, None, rounded)
