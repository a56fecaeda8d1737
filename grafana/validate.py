"""A generated dashboard read back through the SDK's models must give the same JSON.

`Dashboard.from_json` decodes every part the SDK models (panel options and field config per
panel type, variables, thresholds, our InfluxDB targets through the registered dataquery
variant); encoding the result again and comparing shows any key a model does not know, any
value of the wrong shape, any target that is not an InfluxQL query. One exception, because
the SDK's models for Grafana 11.6 cannot hold it: an annotation's `target` there is the
built-in Grafana data source's (limit, tags, type) while ours is an InfluxQL query, so
annotation targets are checked against our InfluxQuery model instead.
"""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm

from grafana.queries import DATASOURCE_TYPE, DATASOURCE_UID, InfluxQuery, register


class DashboardInvalid(ValueError):
    """The JSON does not survive the SDK's models; the message names the path."""


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        return f"{path or '/'}: {a!r} became {b!r}"
    if isinstance(a, dict):
        for k in a.keys() | b.keys():
            if k not in b:
                return f"{path}/{k}: not in the SDK's model (dropped)"
            if k not in a:
                return f"{path}/{k}: added by the SDK's model ({b[k]!r})"
            found = _first_difference(a[k], b[k], f"{path}/{k}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items became {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} became {b!r}"


def _targets(panels: list[Any]) -> list[Any]:
    out = []
    for p in panels or []:
        out += list(getattr(p, "targets", None) or [])
        out += _targets(getattr(p, "panels", None) or [])
    return out


def validate(doc: dict[str, Any]) -> dm.Dashboard:
    """The SDK model of `doc`; raises DashboardInvalid where the round trip differs."""
    register()
    name = doc.get("uid", "?")
    try:
        model = dm.Dashboard.from_json(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DashboardInvalid(f"{name}: the SDK cannot read it: {e!r}") from None
    for q in _targets(model.panels or []):
        if not isinstance(q, InfluxQuery):
            raise DashboardInvalid(f"{name}: a target is not an InfluxQL query: {q.to_json()}")
        ds = q.datasource
        if ds is None or (ds.type_val, ds.uid) != (DATASOURCE_TYPE, DATASOURCE_UID):
            raise DashboardInvalid(f"{name}: target {q.ref_id} {q.query!r} does not use the "
                                   f"provisioned data source {DATASOURCE_UID}")
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    for ours, back in zip(doc.get("annotations", {}).get("list", []),
                          again.get("annotations", {}).get("list", []), strict=True):
        if "target" in ours:
            back["target"] = json.loads(json.dumps(InfluxQuery.from_json(ours["target"]),
                                                   cls=JSONEncoder))
    found = _first_difference(doc, again)
    if found:
        raise DashboardInvalid(f"{name}: {found}")
    return model
