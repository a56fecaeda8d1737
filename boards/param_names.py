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
    for base, new in names.items():
        w = f"{where('params')}.{base}"
        if base not in model:
            raise BoardsError(f"{w}: {sensor['model']} has no parameter {base!r} "
                              f"({', '.join(model)})")
        if not (isinstance(new, str) and NAME.fullmatch(new) and new.startswith(base + "_")
                and len(new) > len(base) + 1):
            raise BoardsError(f"{w}: {new!r} is not {base!r} plus a qualifier, "
                              f"e.g. {base + '_' + sensor['id']!r} (a-z 0-9 _, at most 16)")


def bases(sensors: list[dict]) -> dict[str, str]:
    """Recorded parameter -> base parameter for every channel of these resolved sensors."""
    return {ch["param"]: ch.get("base", ch["param"]) for s in sensors
            for ch in s["spec"]["channels"]}
