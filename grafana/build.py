"""`quantrac grafana build`: every dashboard as JSON, and the provisioning files, generated
from code. Output is deterministic, so the committed files can be compared byte for byte.

    grafana/dashboards/<name>.json        Vietnamese (the default language)
    grafana/dashboards/en/<name>.json     English
    grafana/provisioning/...              data source, dashboard provider, station gazetteer
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from grafana import provisioning
from grafana.labels import DEFAULT_LANG, LANGS

HERE = Path(__file__).resolve().parent
DASHBOARDS = "dashboards"


def dashboards(lang: str = DEFAULT_LANG) -> list[dict[str, Any]]:
    """Every dashboard of one language as JSON-ready dicts, panel ids assigned in order."""
    from grafana.builders import MODULES

    out = []
    for module in MODULES:
        for builder in module.build(lang):
            doc = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
            _number_panels(doc.get("panels", []), iter(range(1, 10_000)))
            out.append(doc)
    uids = [d["uid"] for d in out]
    if len(set(uids)) != len(uids):
        raise ValueError(f"two dashboards share a uid: {sorted(uids)}")
    return out


def _number_panels(panels: list[dict[str, Any]], ids: Iterable[int]) -> None:
    it = iter(ids)
    for p in panels:
        p["id"] = next(it)
        _number_panels(p.get("panels", []), it)


def render(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def file_name(doc: dict[str, Any], lang: str) -> str:
    name = doc["uid"].removeprefix("quantrac-").removesuffix(f"-{lang}")
    return f"{name}.json"


def outputs(langs: Iterable[str] = LANGS) -> dict[str, str]:
    """Relative path (under grafana/) → file text, for the given languages plus the
    provisioning files."""
    out: dict[str, str] = {}
    for lang in langs:
        folder = DASHBOARDS if lang == DEFAULT_LANG else f"{DASHBOARDS}/{lang}"
        for doc in dashboards(lang):
            out[f"{folder}/{file_name(doc, lang)}"] = render(doc)
    out.update(provisioning.files())
    return out


def differences(root: Path = HERE, langs: Iterable[str] = LANGS) -> list[str]:
    """Files under `root` that are missing or differ from what the code generates, and
    dashboard files the code no longer generates."""
    want = outputs(langs)
    bad = [rel for rel, text in want.items()
           if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text]
    for lang in langs:
        folder = DASHBOARDS if lang == DEFAULT_LANG else f"{DASHBOARDS}/{lang}"
        bad += sorted(f"{folder}/{p.name}" for p in (root / folder).glob("*.json")
                      if f"{folder}/{p.name}" not in want)
    return bad


def write(root: Path = HERE, langs: Iterable[str] = LANGS) -> list[str]:
    """Write every generated file; returns those that changed."""
    changed = []
    for rel, text in outputs(langs).items():
        path = root / rel
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed.append(rel)
    return changed
