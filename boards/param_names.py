"""Two channels of one parameter at one station: a station's own name for a channel.

A profile sensor entry (or a registry override) may carry `"params": {"temp": "temp_do"}`:
the model's `temp` channel is recorded as `temp_do` at that station, so a station with water
temperature from the pH probe and from the DO probe keeps both. The catalog keeps the base
name (`temp`), which is what the regulation, QC limits, units and dashboards know; a renamed
channel carries it as `base`, and `Station.bases()` gives every recorded parameter's base.
A station's name must read as its base plus a qualifier (`temp_do`, `temp_ph`), so a series
is recognisable in InfluxDB and on a dashboard without the registry at hand. Channels not
renamed keep their names, so today's records and series are untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from boards import BoardsError

NAME = re.compile(r"[a-z0-9_]{1,16}")  # as a catalog parameter (boards._check_model)


def apply(spec: dict, names: object) -> dict:
    """The model `spec` as this sensor records it: a copy whose channels named in `names`
    (model parameter -> station parameter) carry the new name and their `base`. Anything
    check() would refuse is left as it is here."""
    if not isinstance(names, dict) or not names:
        return spec
    chans = []
    for ch in spec["channels"]:
        new = names.get(ch["param"])
        chans.append({**ch, "param": new, "base": ch["param"]} if isinstance(new, str) else ch)
    return {**spec, "channels": chans}


def check(sensor: dict, where: Callable[[str], str]) -> None:
    """A sensor entry's `params` (where(key) names the key in its file)."""
    names = sensor.get("params")
    if names is None:
        return
    if not isinstance(names, dict):
        raise BoardsError(f"{where('params')}: {names!r} is not an object "
                          '(model parameter: station parameter, e.g. {"temp": "temp_do"})')
    model = [ch.get("base", ch["param"]) for ch in sensor["spec"]["channels"]]
    for param, new in names.items():
        w = f"{where('params')}.{param}"
        if param not in model:
            raise BoardsError(f"{w}: {sensor['model']} has no parameter {param!r} "
                              f"({', '.join(model)})")
        if not (isinstance(new, str) and NAME.fullmatch(new) and new.startswith(param + "_")
                and len(new) > len(param) + 1):
            raise BoardsError(f"{w}: {new!r} is not {param!r} plus a qualifier, "
                              f"e.g. {param + '_' + sensor['id']!r} (a-z 0-9 _, at most 16)")
        if base(new) != param:  # every layer reads the base from the name: it must be this
            raise BoardsError(f"{w}: {new!r} reads as a channel of {base(new)!r}, not of "
                              f"{param!r}: choose another qualifier")


def bases(sensors: list[dict]) -> dict[str, str]:
    """Recorded parameter -> base parameter for every channel of these resolved sensors."""
    return {ch["param"]: ch.get("base", ch["param"]) for s in sensors
            for ch in s["spec"]["channels"]}


# -- the one lookup every layer uses (collector units, rules, alerts, indices, e-gov, open
# data, grafana): a recorded name -> the base parameter it measures, and how people read it

_by_length: tuple[dict | None, tuple[str, ...]] = (None, ())


def _known() -> tuple[str, ...]:
    """The catalog's parameter names, longest first (so `pm2_5_x` reads as pm2_5, not pm2)."""
    global _by_length
    import boards

    cat = boards.catalog()
    if _by_length[0] is not cat:  # the catalog is cached; a test may reload it
        names = {ch.get("base", ch["param"]) for m in cat.values() for ch in m["channels"]}
        _by_length = (cat, tuple(sorted(names, key=len, reverse=True)))
    return _by_length[1]


def base(param: str) -> str:
    """The base parameter of a recorded name, from the name alone (`temp_do` -> `temp`,
    `ph_2` -> `ph`, `temp` -> `temp`); a name no catalog parameter starts is its own base.
    Sound because check() refuses a station name that would read as another parameter's."""
    for known in _known():
        if param == known or param.startswith(known + "_"):
            return known
    return param


def qualifier(param: str) -> str:
    """What tells a renamed channel from its base (`temp_do` -> `do`); "" for a base."""
    b = base(param)
    return param[len(b) + 1:] if param != b else ""


PROBE = {"en": "{name} (probe {qualifier})", "vi": "{name} (đầu đo {qualifier})"}


def label(param: str, names: dict[str, str], lang: str = "en") -> str:
    """How people read a recorded parameter: the base's display name from `names` (the
    rules' names: `temp` -> "T"), and for a renamed channel which probe ("T (probe do)")."""
    b = base(param)
    name = names.get(param) or names.get(b, b)
    q = qualifier(param)
    return name if not q or param in names else PROBE.get(lang, PROBE["en"]).format(
        name=name, qualifier=q)


def chosen(sensors: list[dict]) -> dict[str, str]:
    """Base parameter -> the one channel of it that counts where a station gives one value
    per parameter (VN_WQI/VN_AQI, the Circular 10 file): the channel of a sensor entry whose
    `primary` lists the base; else the channel not renamed; else the first in profile
    order. A second probe never counts twice."""
    out: dict[str, str] = {}
    rank: dict[str, int] = {}
    for s in sensors:
        primary = s.get("primary") or []
        for ch in s["spec"]["channels"]:
            b = ch.get("base", ch["param"])
            r = 0 if b in primary else 1 if ch["param"] == b else 2
            if b not in out or r < rank[b]:
                out[b], rank[b] = ch["param"], r
    return out


def check_primary(sensors: list[dict], where: Callable[[int, str], str]) -> None:
    """Each sensor entry's `primary` (a list of base parameters it carries), one sensor per
    base; where(i, key) names sensor i's key in its file."""
    marked: dict[str, str] = {}
    for i, s in enumerate(sensors):
        primary = s.get("primary")
        if primary is None:
            continue
        carried = [ch.get("base", ch["param"]) for ch in s["spec"]["channels"]]
        if not (isinstance(primary, list) and all(isinstance(p, str) for p in primary)):
            raise BoardsError(f"{where(i, 'primary')}: {primary!r} is not a list of parameters "
                              f'(e.g. ["temp"])')
        for p in primary:
            if p not in carried:
                raise BoardsError(f"{where(i, 'primary')}: {s['model']} has no parameter "
                                  f"{p!r} ({', '.join(carried)})")
            if p in marked:
                raise BoardsError(f"{where(i, 'primary')}: {p!r} is already primary on "
                                  f"sensor {marked[p]!r}: one channel per parameter counts")
            marked[p] = s["id"]
