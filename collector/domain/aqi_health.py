"""What every published VN_AQI carries beside its number (Decision 1459, Bảng 3): the band's
colour, its health message (Bảng 4) and the recommended activities for ordinary people and
for sensitive groups (Bảng 5), in Vietnamese (verbatim) and English.

The texts are data (`tables/vn_aqi_1459_health.json`, keyed by the band keys of
`vn_aqi_1459.json`, whose colours this reuses); a text the reference lacks is `null` there and
named in `missing`, never invented.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from collector.domain import aqi

HEALTH_PATH = Path(__file__).resolve().parent / "tables" / "vn_aqi_1459_health.json"
PARTS = ("health", "general", "sensitive")
LANGS = ("vi", "en")
LABELS = {  # how a surface introduces each part
    "general": {"vi": "Người bình thường", "en": "General public"},
    "sensitive": {"vi": "Nhóm người nhạy cảm", "en": "Sensitive groups"},
}


class HealthTableError(ValueError):
    """The health messages file is missing a band or holds a text that is not text."""


def colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def parse(doc: Any, bands: tuple[aqi.Band, ...],
          where: str = HEALTH_PATH.name) -> dict[str, dict[str, Any]]:
    """Band key → {"band", "label", "colour", "rgb", "health", "general", "sensitive",
    "missing"}; errors name the key."""
    if not isinstance(doc, dict) or not isinstance(doc.get("bands"), dict):
        raise HealthTableError(f"{where}: bands must be an object")
    extra = sorted(set(doc["bands"]) - {b.key for b in bands})
    if extra:
        raise HealthTableError(f"{where}: bands.{extra[0]} is not a band of the AQI table")
    out = {}
    for b in bands:
        entry = doc["bands"].get(b.key)
        if not isinstance(entry, dict):
            raise HealthTableError(f"{where}: bands.{b.key} is missing")
        info: dict[str, Any] = {"band": b.key, "label": {"vi": b.vi, "en": b.en},
                                "colour": colour(b.rgb), "rgb": list(b.rgb)}
        missing = []
        for part in PARTS:
            texts = entry.get(part)
            if not isinstance(texts, dict):
                raise HealthTableError(f"{where}: bands.{b.key}.{part} must be {{vi, en}}")
            for lang in LANGS:
                text = texts.get(lang)
                if text is None:
                    missing.append(f"{part}.{lang}")
                elif not isinstance(text, str) or not text.strip():
                    raise HealthTableError(f"{where}: bands.{b.key}.{part}.{lang} "
                                           f"is not text (null when the reference lacks it)")
            info[part] = {lang: texts.get(lang) for lang in LANGS}
        info["missing"] = missing
        out[b.key] = info
    return out


@cache
def table() -> dict[str, dict[str, Any]]:
    """The shipped messages, read once."""
    try:
        doc = json.loads(HEALTH_PATH.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise HealthTableError(f"{HEALTH_PATH.name}: cannot read ({e})") from None
    return parse(doc, aqi.default_table().bands)


def of_band(key: str) -> dict[str, Any]:
    """The band's colour and messages (a fresh copy: callers put it into documents)."""
    try:
        return json.loads(json.dumps(table()[key]))
    except KeyError:
        raise ValueError(f"band {key!r} is not a VN_AQI band") from None


def of_aqi(value: float) -> dict[str, Any]:
    return of_band(aqi.band(value)[0])


def sentence(info: dict[str, Any], lang: str) -> str:
    """The health message and both recommendations as one text, for a notification."""
    parts = [info["health"][lang] or ""]
    for part in ("general", "sensitive"):
        if info[part][lang]:
            parts.append(f"{LABELS[part][lang]}: {info[part][lang]}")
    return " ".join(p if p.endswith((".", "…")) else p + "." for p in parts if p)
