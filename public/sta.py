"""A read-only OGC SensorThings API 1.1 view (18-088) of the same public data: Things
(stations), Locations and FeaturesOfInterest (their positions), Sensors and ObservedProperties
(one per parameter), Datastreams (a station's hourly means of one parameter, and its hourly
VN_AQI), Observations (those hourly values over the last WINDOW_H hours; invalid ones never,
unreviewed ones with `parameters.preliminary`). HistoricalLocations is empty: stations do not
move. $filter, $orderby, $top, $skip, $count, $expand, $select and @iot.nextLink as the
standard says; writes are refused (405)."""

from __future__ import annotations

import json
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from public import facts
from public.odata import ODataError, Unsupported, evaluate, orderby, parse, split_top
from public.store import Store

__all__ = ["ODataError", "NotFound", "Unsupported", "routes"]

WINDOW_H = 72
TOP_DEFAULT, TOP_MAX, SKIP_MAX = 100, 1000, 100000
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
SETS = {"Things": "Thing", "Locations": "Location", "HistoricalLocations": "HistoricalLocation",
        "Sensors": "Sensor", "ObservedProperties": "ObservedProperty",
        "Datastreams": "Datastream", "Observations": "Observation",
        "FeaturesOfInterest": "FeatureOfInterest"}
SET_OF = {v: k for k, v in SETS.items()}
NAV: dict[str, dict[str, str]] = {  # entity -> navigation property -> target entity
    "Thing": {"Locations": "Location", "HistoricalLocations": "HistoricalLocation",
              "Datastreams": "Datastream"},
    "Location": {"Things": "Thing", "HistoricalLocations": "HistoricalLocation"},
    "HistoricalLocation": {"Thing": "Thing", "Locations": "Location"},
    "Sensor": {"Datastreams": "Datastream"},
    "ObservedProperty": {"Datastreams": "Datastream"},
    "Datastream": {"Thing": "Thing", "Sensor": "Sensor", "ObservedProperty": "ObservedProperty",
                   "Observations": "Observation"},
    "Observation": {"Datastream": "Datastream", "FeatureOfInterest": "FeatureOfInterest"},
    "FeatureOfInterest": {"Observations": "Observation"},
}
MAX_EXPAND_DEPTH = 5
OPTIONS = {"$filter", "$orderby", "$top", "$skip", "$count", "$expand", "$select"}
# system query options of OData or SensorThings this read-only view does not implement: 501
NOT_IMPLEMENTED = {"$resultFormat", "$search", "$apply", "$levels", "$format", "$compute"}


class NotFound(LookupError):
    pass


def iso(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def fmt(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, dict):
        return {k: fmt(x) for k, x in v.items()}
    return v


class Model:
    """The entities, built from the registry; Observations from the store's cached window."""

    def __init__(self, store: Store):
        self.store = store
        self.static: dict[str, dict[int, dict]] = {k: {} for k in SETS.values()}
        params = sorted({p for s in facts.network().stations for p in s.params()}) + ["aqi"]
        self.param_id = {p: i + 1 for i, p in enumerate(params)}
        for p, i in self.param_id.items():
            name = facts.param_name(p)
            self.static["ObservedProperty"][i] = {
                "@iot.id": i, "name": name, "definition": f"urn:quantrac:param:{p}",
                "description": ("VN_AQI, Decision 1459/QĐ-TCMT" if p == "aqi"
                                else f"{name}, hourly mean"), "_r": {"param": p}}
            self.static["Sensor"][i] = {
                "@iot.id": i, "name": f"{name} ({'VN_AQI' if p == 'aqi' else 'analyser'})",
                "description": ("VN_AQI computed by the collector from the hourly means "
                                "(Decision 1459)" if p == "aqi" else
                                f"The station's {name} analyser; hourly means of its "
                                "quality-controlled readings"),
                "encodingType": "text/plain", "metadata": "public/README.md",
                "_r": {"param": p}}
        self.ds_key: dict[int, tuple[str, str]] = {}
        for n, s in enumerate(facts.network().stations, 1):
            r = {"station": s.id}
            self.static["Thing"][n] = {
                "@iot.id": n, "name": s.name, "description": f"{s.id}: {s.kind} station",
                "properties": {"station": s.id, "kind": s.kind, "regulation": s.regulation,
                               "column": s.column}, "_r": r}
            point = {"type": "Point", "coordinates": [s.lon, s.lat]}
            self.static["Location"][n] = {"@iot.id": n, "name": s.name,
                                          "description": f"{s.id} position",
                                          "encodingType": "application/geo+json",
                                          "location": point, "_r": r}
            self.static["FeatureOfInterest"][n] = {
                "@iot.id": n, "name": s.name, "description": f"the {s.kind} at {s.id}",
                "encodingType": "application/geo+json", "feature": point, "_r": r}
            ds_params = sorted(s.params()) + (["aqi"] if facts.is_air(s) else [])
            for p in ds_params:
                did = n * 100 + self.param_id[p]
                self.ds_key[did] = (s.id, p)
                unit = s.params().get(p, "") if p != "aqi" else ""
                self.static["Datastream"][did] = {
                    "@iot.id": did, "name": f"{s.id} {facts.param_name(p)}",
                    "description": f"hourly {'VN_AQI' if p == 'aqi' else 'mean'} of "
                                   f"{facts.param_name(p)} at {s.name}",
                    "observationType": OM_MEASUREMENT,
                    "unitOfMeasurement": {"name": facts.unit_name(unit) if unit else "index",
                                          "symbol": facts.unit_name(unit) if unit else "",
                                          "definition": f"urn:quantrac:unit:{unit or 'index'}"},
                    "properties": {"period": "PT1H"},
                    "_r": {"station": s.id, "thing": n, "sensor": self.param_id[p],
                           "op": self.param_id[p], "param": p}}
        self.thing_of = {s.id: n for n, s in enumerate(facts.network().stations, 1)}

    def observations(self) -> dict[int, dict]:
        return self._window()[0]

    def _window(self) -> tuple[dict[int, dict], dict[int, list[dict]], dict[int, list[dict]]]:
        """(by id, by datastream newest first, by feature of interest), cached together."""
        return self.store.cache.get("sta-obs", 60.0, self._observations)

    def _observations(self) -> tuple[dict[int, dict], dict[int, list[dict]],
                                     dict[int, list[dict]]]:
        out: dict[int, dict] = {}
        for (station, param), pts in self.store.window(WINDOW_H).items():
            did = self.thing_of[station] * 100 + self.param_id.get(param, 0)
            if did not in self.ds_key:
                continue
            for p in pts:
                oid = did * 10**10 + p["time"]
                out[oid] = {"@iot.id": oid, "phenomenonTime": iso(p["time"]),
                            "resultTime": iso(p["time"]), "result": p["value"],
                            "parameters": {"preliminary": p["preliminary"]},
                            "_r": {"ds": did, "foi": self.thing_of[station]}}
        by_ds: dict[int, list[dict]] = {}
        by_foi: dict[int, list[dict]] = {}
        for o in sorted(out.values(), key=lambda o: o["phenomenonTime"], reverse=True):
            by_ds.setdefault(o["_r"]["ds"], []).append(o)
            by_foi.setdefault(o["_r"]["foi"], []).append(o)
        return out, by_ds, by_foi

    def all(self, kind: str) -> list[dict]:
        src = self.observations() if kind == "Observation" else self.static[kind]
        return list(src.values())

    def get(self, kind: str, eid: int) -> dict:
        src = self.observations() if kind == "Observation" else self.static[kind]
        if eid not in src:
            raise NotFound(f"{SET_OF[kind]}({eid}) does not exist")
        return src[eid]

    def related(self, kind: str, e: dict, nav: str) -> dict | list[dict] | None:
        target = NAV[kind][nav]
        r = e["_r"]
        if kind == "Thing":
            if nav == "Datastreams":
                return [d for d in self.all("Datastream") if d["_r"]["thing"] == e["@iot.id"]]
            if nav == "Locations":
                return [self.get("Location", e["@iot.id"])]
            return []
        if kind == "Location":
            return [self.get("Thing", e["@iot.id"])] if nav == "Things" else []
        if kind == "HistoricalLocation":
            return None if nav == "Thing" else []
        if kind in ("Sensor", "ObservedProperty"):
            key = "sensor" if kind == "Sensor" else "op"
            return [d for d in self.all("Datastream") if d["_r"][key] == e["@iot.id"]]
        if kind == "Datastream":
            if nav == "Observations":
                return list(self._window()[1].get(e["@iot.id"], ()))
            return self.get(target, r[{"Thing": "thing", "Sensor": "sensor",
                                       "ObservedProperty": "op"}[nav]])
        if kind == "Observation":
            return self.get(target, r["ds"] if nav == "Datastream" else r["foi"])
        if kind == "FeatureOfInterest":
            return list(self._window()[2].get(e["@iot.id"], ()))
        raise NotFound(nav)


def _props(kind: str, e: dict) -> list[str]:
    return [k for k in e if k != "_r"]


class Query:
    """One level's query options ($expand nests them)."""

    def __init__(self, opts: dict[str, str], kind: str, top_level: bool, depth: int = 0):
        if depth > MAX_EXPAND_DEPTH:
            raise ODataError(f"$expand nested deeper than {MAX_EXPAND_DEPTH} levels")
        later = sorted(k for k in opts if k in NOT_IMPLEMENTED)
        if later:
            raise Unsupported(f"{later[0]} is not implemented by this service; it reads "
                              f"{sorted(OPTIONS)}")
        unknown = [k for k in opts if k.startswith("$") and k not in OPTIONS]
        if unknown:
            raise ODataError(f"unknown or unsupported query option {unknown[0]}; this service "
                             f"reads {sorted(OPTIONS)}")
        self.kind = kind
        self.filter = parse(opts["$filter"]) if "$filter" in opts else None
        self.orderby = orderby(opts["$orderby"]) if "$orderby" in opts else []
        self.top = _int(opts, "$top", TOP_DEFAULT, TOP_MAX)
        self.skip = _int(opts, "$skip", 0, SKIP_MAX)
        count = opts.get("$count", "false")
        if count not in ("true", "false"):
            raise ODataError(f"$count={count!r}: true or false")
        self.count = count == "true"
        self.select = [s.strip() for s in opts["$select"].split(",")] if "$select" in opts \
            else None
        if self.select is not None:
            valid = set(_valid_props(kind)) | set(NAV[kind])
            bad = [s for s in self.select if s not in valid]
            if bad:
                raise ODataError(f"$select: {kind} has no property {bad[0]!r}")
        self.expand: list[tuple[str, Query | None]] = []
        if "$expand" in opts:
            for item in split_top(opts["$expand"], ","):
                self.expand.append(_expand_item(item.strip(), kind, depth + 1))


def _valid_props(kind: str) -> list[str]:
    base = {"Thing": ["name", "description", "properties"],
            "Location": ["name", "description", "encodingType", "location"],
            "HistoricalLocation": ["time"],
            "Sensor": ["name", "description", "encodingType", "metadata"],
            "ObservedProperty": ["name", "definition", "description"],
            "Datastream": ["name", "description", "observationType", "unitOfMeasurement",
                           "properties", "observedArea", "phenomenonTime", "resultTime"],
            "Observation": ["phenomenonTime", "resultTime", "result", "resultQuality",
                            "validTime", "parameters"],
            "FeatureOfInterest": ["name", "description", "encodingType", "feature"]}[kind]
    return ["@iot.id", "id", *base]


def _int(opts: dict, name: str, default: int, hi: int) -> int:
    raw = opts.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ODataError(f"{name}={raw!r} is not a non-negative whole number")
    v = int(raw)
    if v > hi:
        raise ODataError(f"{name}={v}: at most {hi}")
    return v


def _expand_item(item: str, kind: str, depth: int) -> tuple[str, Query | None]:
    opts: dict[str, str] = {}
    if item.endswith(")") and "(" in item:
        head, inner = item.split("(", 1)
        inner = inner[:-1]
        for part in split_top(inner, ";"):
            if "=" not in part:
                raise ODataError(f"$expand: {part!r} is not name=value")
            k, v = part.split("=", 1)
            opts[k.strip()] = v
        item = head.strip()
    parts = item.split("/")
    if parts[0] not in NAV[kind]:
        raise ODataError(f"$expand: {kind} has no navigation property {parts[0]!r}")
    target = NAV[kind][parts[0]]
    if len(parts) > 1:
        rest = "/".join(parts[1:])
        sub_opts = {"$expand": rest + (f"({';'.join(f'{k}={v}' for k, v in opts.items())})"
                                       if opts else "")}
        return parts[0], Query(sub_opts, target, False, depth)
    return parts[0], Query(opts, target, False, depth)


class Service:
    def __init__(self, store: Store):
        self.model = Model(store)

    def resolver(self, kind: str, e: dict):
        def resolve(path: list[str]) -> Any:
            k, cur = kind, e
            for i, name in enumerate(path):
                if cur is None:
                    return None
                if name == "id":
                    name = "@iot.id"
                if k and name in NAV.get(k, {}):
                    cur = self.model.related(k, cur, name)
                    k = NAV[k][name]
                    if isinstance(cur, list):
                        raise ODataError(f"{'/'.join(path)}: {path[i]} is a collection")
                    continue
                if k and name not in _valid_props(k):
                    raise ODataError(f"{k} has no property {name!r}")
                cur = cur.get(name) if isinstance(cur, dict) else None
                k = ""  # inside a JSON property: plain keys from here on
            return cur
        return resolve

    def collection(self, kind: str, items: list[dict], q: Query, base: str,
                   link: str | None) -> dict:
        if q.filter is not None:
            items = [e for e in items if evaluate(q.filter, self.resolver(kind, e)) is True]
        if q.orderby:
            for expr, desc in reversed(q.orderby):
                items = sorted(items, key=lambda e, x=expr: _key(evaluate(
                    x, self.resolver(kind, e))), reverse=desc)
        elif kind != "Observation" or link is None:
            items = sorted(items, key=lambda e: e["@iot.id"])
        out: dict[str, Any] = {}
        if q.count:
            out["@iot.count"] = len(items)
        page = items[q.skip:q.skip + q.top]
        if q.skip + q.top < len(items) and link is not None:
            out["@iot.nextLink"] = link + ("&" if "?" in link else "?") + \
                f"$skip={q.skip + q.top}"
        out["value"] = [self.entity(kind, e, q, base) for e in page]
        return out

    def entity(self, kind: str, e: dict, q: Query | None, base: str) -> dict:
        self_link = f"{base}/{SET_OF[kind]}({e['@iot.id']})"
        doc: dict[str, Any] = {"@iot.id": e["@iot.id"], "@iot.selfLink": self_link}
        doc.update({k: fmt(v) for k, v in e.items() if k not in ("_r", "@iot.id")})
        for nav in NAV[kind]:
            doc[f"{nav}@iot.navigationLink"] = f"{self_link}/{nav}"
        if q is not None:
            for nav, sub in q.expand:
                target = NAV[kind][nav]
                rel = self.model.related(kind, e, nav)
                if isinstance(rel, list):
                    sub = sub or Query({}, target, False)
                    res = self.collection(target, rel, sub, base,
                                          f"{self_link}/{nav}?" + _qs(sub))
                    doc[nav] = res["value"]
                    if "@iot.nextLink" in res:
                        doc[f"{nav}@iot.nextLink"] = res["@iot.nextLink"]
                    if "@iot.count" in res:
                        doc[f"{nav}@iot.count"] = res["@iot.count"]
                else:
                    doc[nav] = None if rel is None else self.entity(target, rel, sub, base)
            if q.select is not None:
                keep = set(q.select) | {n for n, _ in q.expand}
                keep |= {"@iot.id"} if "id" in q.select else set()
                doc = {k: v for k, v in doc.items() if k in keep}
        return doc

    def answer(self, path: str, params: dict[str, str], base: str, url: str) -> Any:
        segs = [s for s in path.split("/") if s]
        if not segs:
            return {"value": [{"name": k, "url": f"{base}/{k}"} for k in SETS],
                    "serverSettings": {"conformance": [
                        "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
                        "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/"
                        "resource-path-to-entities",
                        "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data"]}}
        head = segs[0]
        name, eid = _split_id(head)
        if name not in SETS:
            raise NotFound(f"no entity set {name!r}; the service root lists them")
        kind = SETS[name]
        cur: Any = self.model.all(kind) if eid is None else self.model.get(kind, eid)
        for seg in segs[1:]:
            if seg == "$value":
                if not isinstance(cur, tuple):
                    raise ODataError("$value follows a property")
                return ("raw", cur[1])
            if seg == "$ref":
                items = cur if isinstance(cur, list) else [cur]
                return {"value": [{"@iot.selfLink": f"{base}/{SET_OF[kind]}({e['@iot.id']})"}
                                  for e in items]}
            if isinstance(cur, list):
                n2, id2 = _split_id(seg)
                if id2 is None or n2 != SET_OF[kind]:
                    raise NotFound(f"{seg}: address one entity of the collection first")
                match = [e for e in cur if e["@iot.id"] == id2]
                if not match:
                    raise NotFound(f"{seg} does not exist here")
                cur = match[0]
                continue
            nav_name, nav_id = _split_id(seg)
            if nav_name in NAV[kind]:
                rel = self.model.related(kind, cur, nav_name)
                kind = NAV[kind][nav_name]
                if nav_id is not None:
                    rel = [e for e in (rel or []) if e["@iot.id"] == nav_id]
                    if not rel:
                        raise NotFound(f"{seg} does not exist here")
                    rel = rel[0]
                if rel is None:
                    raise NotFound(f"{seg}: none")
                cur = rel
                continue
            if seg in _valid_props(kind) and isinstance(cur, dict):
                cur = ("prop", fmt(cur.get(seg)), seg)
                continue
            raise NotFound(f"{kind} has no property or navigation {seg!r}")
        if isinstance(cur, tuple):
            return {cur[2]: cur[1]}
        q = Query(params, kind, True)
        if isinstance(cur, list):
            link = url.split("?")[0] + "?" + _qs(q, params)
            return self.collection(kind, cur, q, base, link)
        return self.entity(kind, cur, q, base)


def _key(v: Any) -> tuple:
    return (v is None, v if v is not None else 0)


def _qs(q: Query, params: dict[str, str] | None = None) -> str:
    keep = {k: v for k, v in (params or {}).items() if k != "$skip"}
    if params is None:
        keep = {"$top": str(q.top)}
    keep.setdefault("$top", str(q.top))
    return urllib.parse.urlencode(keep, safe="$(),'/ ").replace(" ", "%20")


def _split_id(seg: str) -> tuple[str, int | None]:
    if seg.endswith(")") and "(" in seg:
        name, raw = seg[:-1].split("(", 1)
        raw = raw.strip("'")
        if not raw.isdigit():
            raise NotFound(f"{seg}: ids are whole numbers")
        return name, int(raw)
    return seg, None


def routes(store: Store) -> list[Route]:
    svc = Service(store)

    async def handle(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool
        base = str(request.base_url).rstrip("/") + "/sta/v1.1"
        params = dict(request.query_params)
        doc = await run_in_threadpool(svc.answer, request.path_params.get("rest", ""), params,
                                      base, str(request.url))
        headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"}
        if isinstance(doc, tuple):
            return Response(str(doc[1]), media_type="text/plain", headers=headers)
        return Response(json.dumps(doc, ensure_ascii=False), media_type="application/json",
                        headers=headers)

    return [Route("/", handle), Route("/{rest:path}", handle)]
