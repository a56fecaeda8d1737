"""Circular 10/2021/TT-BTNMT data files: one text file per station and 5-minute cycle, one
TAB-separated line per parameter, for the Department of Natural Resources and Environment.

    <symbol>\\t<value>\\t<unit>\\t<yyyyMMddHHmmss>\\t<status>\\n

local time (the registry's time zone, UTC+7), status `00` measuring, `01` calibrating, `02`
device error. Named `<Province>_<Facility>_<Station>_<yyyyMMddHHmmss>.txt` and uploaded under
`<Station>/yyyy/MM/dd/`. The symbols, their decimals and the unit texts are data
(`symbols.json`). Pure functions.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import boards
from boards.param_names import base
from collector.contracts import Reading

log = logging.getLogger("quantrac.collector.egov")
SYMBOLS_FILE = Path(__file__).with_name("symbols.json")
CODE = re.compile(r"^[A-Za-z0-9-]{1,40}$")
_warned: set[object] = set()


class DataFileError(ValueError):
    """A symbols table or a code that cannot make valid data files; the message names it."""


@dataclass(frozen=True)
class Symbols:
    params: dict[str, tuple[str, int]]  # param -> (symbol, decimals), in file order
    units: dict[str, str]  # stored unit -> unit text in the file
    not_sent: frozenset[str] = frozenset()  # measured, deliberately not in the files


def measured_params() -> set[str]:
    """Every parameter some catalog model measures: what a symbols key can name."""
    return {ch["param"] for m in boards.catalog().values() for ch in m["channels"]}


def load_symbols(path: str | Path | None = None) -> Symbols:
    where = Path(path) if path else SYMBOLS_FILE
    try:
        doc = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataFileError(f"{where}: unreadable symbols table ({e})") from None
    known = measured_params()
    params: dict[str, tuple[str, int]] = {}
    not_sent = doc.get("not_sent") or {}
    if not isinstance(not_sent, dict):
        raise DataFileError(f"{where}: not_sent must map parameters to the reason")
    for param in [*(doc.get("symbols") or {}), *not_sent]:
        if param not in known:  # e.g. "pm25" for pm2_5: that parameter would never be sent
            raise DataFileError(f"{where}: {param!r} is not a parameter any sensor model "
                                f"measures ({', '.join(sorted(known))})")
    for param, entry in (doc.get("symbols") or {}).items():
        sym = entry.get("symbol") if isinstance(entry, dict) else None
        dec = entry.get("decimals", 2) if isinstance(entry, dict) else None
        if not isinstance(sym, str) or not sym or any(c in sym for c in "\t\r\n"):
            raise DataFileError(f"{where}: symbols.{param}.symbol = {sym!r} is not a symbol")
        if not isinstance(dec, int) or isinstance(dec, bool) or not 0 <= dec <= 6:
            raise DataFileError(f"{where}: symbols.{param}.decimals = {dec!r}: must be 0-6")
        params[param] = (sym, dec)
    units = doc.get("units") or {}
    if not all(isinstance(k, str) and isinstance(v, str) and "\t" not in v
               for k, v in units.items()):
        raise DataFileError(f"{where}: units must map unit names to texts without TABs")
    if not params:
        raise DataFileError(f"{where}: no symbols")
    return Symbols(params, dict(units), frozenset(not_sent))


def sent_channels(station: boards.Station) -> dict[str, str | None]:
    """Each recorded parameter of a station -> the parameter its line is written for: the
    base for the station's chosen channel of it (Station.chosen()), None for another probe."""
    chosen = station.chosen()
    return {ch: (b if chosen.get(b) == ch else None) for ch, b in station.bases().items()}


def ascii_code(text: str) -> str:
    """'An Giang' -> 'AnGiang', 'Phú Quốc' -> 'PhuQuoc': what fits a file name."""
    text = text.replace("Đ", "D").replace("đ", "d")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain if c.isalnum() or c == "-")


def parse_codes(entries: Iterable[str], stations: Iterable[str]) -> dict[str, str]:
    """'<station>=<code>' entries -> {station: code}; unknown stations and bad codes refused."""
    known, out = set(stations), {}
    for e in entries:
        station, sep, code = e.partition("=")
        if not sep or station.strip() not in known:
            raise DataFileError(f"[egov] station_codes: {e!r} is not '<registry station>=<code>'")
        if not CODE.fullmatch(code.strip()):
            raise DataFileError(f"[egov] station_codes: {e!r}: the code must be 1-40 letters, "
                                "digits or '-' (it is part of file and folder names)")
        out[station.strip()] = code.strip()
    return out


@dataclass(frozen=True)
class Naming:
    province: str
    facility: str
    tz: ZoneInfo
    codes: dict[str, str] = field(default_factory=dict)
    # station -> channel -> the base parameter it is sent as, None for a second probe
    # (sent_channels()); a station or parameter not in it is sent as itself
    channels: dict[str, dict[str, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, value in (("province", self.province), ("facility", self.facility)):
            if not CODE.fullmatch(value):
                raise DataFileError(f"[egov] {what} = {value!r}: must be 1-40 letters, digits "
                                    "or '-' (it is part of every file name)")

    def station(self, station: str) -> str:
        return self.codes.get(station, station)

    def sent_as(self, station: str, param: str) -> str | None:
        """The parameter a channel's line is written for; None for a second probe of one
        (temp_do beside temp): Circular 10 has one line per parameter and its symbol, and
        a second `Temp` line or a symbol the department does not know would be misread."""
        return self.channels.get(station, {}).get(param, param)

    def stamp(self, t: int) -> str:
        return datetime.fromtimestamp(t, self.tz).strftime("%Y%m%d%H%M%S")

    def path(self, station: str, t: int) -> str:
        """`<Station>/yyyy/MM/dd/<Province>_<Facility>_<Station>_<stamp>.txt`."""
        code, stamp = self.station(station), self.stamp(t)
        return (f"{code}/{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}/"
                f"{self.province}_{self.facility}_{code}_{stamp}.txt")


def number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0"


def content(readings: list[Reading], symbols: Symbols, naming: Naming) -> str:
    """The lines of one station's cycle, in the symbols table's order; readings without a
    value (the station sent null) and parameters without a symbol are left out."""
    order = list(symbols.params)
    lines = []
    named = [(naming.sent_as(r.station, r.param), r) for r in readings]
    for param, r in sorted(named, key=lambda x: (order.index(x[0]) if x[0] in order else 99,
                                                 x[0] or "", x[1].param)):
        if r.value is None:
            continue
        if param is None:
            if (r.station, r.param) not in _warned:
                _warned.add((r.station, r.param))
                log.warning("egov: %s %r is a second probe of %r: Circular 10 has one line "
                            "per parameter, so only %r is sent (the open data has both)",
                            r.station, r.param, base(r.param),
                            next((ch for ch, b in naming.channels[r.station].items()
                                  if b == base(r.param)), "none"))
            continue
        if param not in symbols.params:
            if param not in _warned and param not in symbols.not_sent:
                _warned.add(param)
                log.warning("egov: parameter %r has no symbol in the symbols table; it is "
                            "left out of the data files", param)
            continue
        sym, dec = symbols.params[param]
        unit = symbols.units.get(r.unit, r.unit)
        lines.append(f"{sym}\t{number(r.value, dec)}\t{unit}\t{naming.stamp(r.time)}\t"
                     f"{int(r.status):02d}\n")
    return "".join(lines)


def cycle_files(readings: Iterable[Reading], naming: Naming,
                symbols: Symbols) -> list[tuple[str, str, str]]:
    """(idempotency key `<station>/<stamp>`, upload path, text) for every (station, record
    time) among the readings that has at least one line, in order of first appearance."""
    groups: dict[tuple[str, int], dict[str, Reading]] = {}
    for r in readings:  # a record sent again (new seq) in the same read: one line, the latest
        groups.setdefault((r.station, r.time), {})[r.param] = r
    out = []
    for (station, t), rs in groups.items():
        text = content(list(rs.values()), symbols, naming)
        if text:
            out.append((f"{station}/{naming.stamp(t)}", naming.path(station, t), text))
    return out
