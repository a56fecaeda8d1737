"""The read-only OGC SensorThings API 1.1 view (OGC 18-088): one test per requirement of the
read-only core (resource path, data model), filtering, expansion and paging classes it serves
(the requirement ids, under http://www.opengis.net/spec/iot_sensing/1.1/, in each test's name
and docstring), bad OData answering 400, and frost_sta_client, an independent client from
PyPI, reading Things, Datastreams and Observations."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from public_site import get

SETS = ("Things", "Locations", "HistoricalLocations", "Sensors", "ObservedProperties",
        "Datastreams", "Observations", "FeaturesOfInterest")


def sta(server, path: str, **params: str) -> dict:
    qs = urllib.parse.urlencode(params, safe="$(),'/") if params else ""
    code, _, body = get(f"{server.url}/sta/v1.1/{path}" + (f"?{qs}" if qs else ""))
    assert code == 200, (path, params, code, body[:300])
    return json.loads(body)


def status(server, path: str) -> tuple[int, dict]:
    code, _, body = get(f"{server.url}/sta/v1.1/{path}")
    return code, json.loads(body)


def _air_datastream(server) -> dict:
    return sta(server, "Datastreams", **{"$filter": "endswith(name, 'VN_AQI') and "
                                         "Thing/properties/station eq 'pq-air-02'"})["value"][0]


# -- read-only core: resource path ----------------------------------------------------------
def test_req_resource_path_resource_path_to_entities_service_root(server):
    """/req/resource-path/resource-path-to-entities: the service root lists every entity set
    with its URL."""
    root = sta(server, "")
    assert {v["name"] for v in root["value"]} == set(SETS)
    assert all(v["url"].endswith("/sta/v1.1/" + v["name"]) for v in root["value"])


def test_req_resource_path_resource_path_to_entities_collections(server):
    """/req/resource-path/resource-path-to-entities: each entity set is a collection."""
    for name in SETS:
        assert isinstance(sta(server, name)["value"], list), name


def test_req_resource_path_resource_path_to_entities_by_id(server):
    """/req/resource-path/resource-path-to-entities: an entity by its id; an id that does not
    exist is 404."""
    thing = sta(server, "Things(1)")
    assert thing["@iot.id"] == 1 and thing["properties"]["station"] == "pq-air-01"
    assert status(server, "Things(9999)")[0] == 404


def test_req_resource_path_resource_path_to_entities_navigation(server):
    """/req/resource-path/resource-path-to-entities: navigation properties, to one and to
    many."""
    ds = sta(server, "Things(2)/Datastreams")["value"]
    assert ds and all(d["name"].startswith("pq-air-02") for d in ds)
    assert sta(server, f"Datastreams({ds[0]['@iot.id']})/Thing")["@iot.id"] == 2
    assert sta(server, "Things(2)/Locations")["value"][0]["location"]["type"] == "Point"


def test_req_resource_path_resource_path_to_entities_property_and_value(server):
    """/req/resource-path/resource-path-to-entities: a property, and its raw $value."""
    assert sta(server, "Things(1)/name") == {"name": "Dương Đông - Trung tâm hành chính"}
    code, _, body = get(f"{server.url}/sta/v1.1/Things(1)/name/$value")
    assert code == 200 and body.decode() == "Dương Đông - Trung tâm hành chính"


def test_req_resource_path_resource_path_to_entities_ref(server):
    """/req/resource-path/resource-path-to-entities: $ref gives the selfLinks only."""
    refs = sta(server, "Things(1)/Locations/$ref")["value"]
    assert refs == [{"@iot.selfLink": f"{server.url}/sta/v1.1/Locations(1)"}]


# -- read-only core: data model -------------------------------------------------------------
PROPERTIES = {  # 18-088 §8.2: each entity's mandatory properties
    "Things": ("name", "description"),
    "Locations": ("name", "description", "encodingType", "location"),
    "HistoricalLocations": ("time",),
    "Datastreams": ("name", "description", "unitOfMeasurement", "observationType"),
    "Sensors": ("name", "description", "encodingType", "metadata"),
    "ObservedProperties": ("name", "definition", "description"),
    "Observations": ("phenomenonTime", "result", "resultTime"),
    "FeaturesOfInterest": ("name", "description", "encodingType", "feature")}
RELATIONS = {  # navigation property -> the entity set it leads to
    "Things": {"Locations": "Locations", "HistoricalLocations": "HistoricalLocations",
               "Datastreams": "Datastreams"},
    "Locations": {"Things": "Things", "HistoricalLocations": "HistoricalLocations"},
    "HistoricalLocations": {"Thing": "Things", "Locations": "Locations"},
    "Datastreams": {"Thing": "Things", "Sensor": "Sensors",
                    "ObservedProperty": "ObservedProperties", "Observations": "Observations"},
    "Sensors": {"Datastreams": "Datastreams"},
    "ObservedProperties": {"Datastreams": "Datastreams"},
    "Observations": {"Datastream": "Datastreams", "FeatureOfInterest": "FeaturesOfInterest"},
    "FeaturesOfInterest": {"Observations": "Observations"}}
REQ_NAME = {"Things": "thing", "Locations": "location",
            "HistoricalLocations": "historical-location", "Datastreams": "datastream",
            "Sensors": "sensor", "ObservedProperties": "observed-property",
            "Observations": "observation", "FeaturesOfInterest": "feature-of-interest"}


def test_req_datamodel_entity_control_information_common_control_information(server):
    """/req/datamodel/entity-control-information/common-control-information: every entity has
    @iot.id and an @iot.selfLink that answers with that entity."""
    for name in SETS:
        for e in sta(server, name, **{"$top": "3"})["value"]:
            assert e["@iot.selfLink"] == f"{server.url}/sta/v1.1/{name}({e['@iot.id']})"
            code, _, body = get(e["@iot.selfLink"])
            assert code == 200 and json.loads(body)["@iot.id"] == e["@iot.id"]


@pytest.mark.parametrize("name", list(PROPERTIES), ids=[f"datamodel/{REQ_NAME[n]}/properties"
                                                        for n in PROPERTIES])
def test_req_datamodel_entity_properties(server, name):
    """/req/datamodel/{thing,location,historical-location,datastream,sensor,observed-property,
    observation,feature-of-interest}/properties: the mandatory properties, typed as 18-088
    §8.2 says. HistoricalLocations is empty (stations do not move), so it holds none to
    break the requirement."""
    got = sta(server, name, **{"$top": "5"})["value"]
    if name == "HistoricalLocations":
        assert got == []
        return
    assert got
    for e in got:
        missing = [p for p in PROPERTIES[name] if p not in e]
        assert not missing, (name, missing)
    e = got[0]
    if name == "Datastreams":
        assert set(e["unitOfMeasurement"]) == {"name", "symbol", "definition"}
        assert e["observationType"].startswith("http://www.opengis.net/def/observationType/")
    if name in ("Locations", "FeaturesOfInterest"):
        assert e["encodingType"] == "application/geo+json"
    if name == "Observations":
        assert e["phenomenonTime"].endswith("Z") and isinstance(e["result"], int | float)


@pytest.mark.parametrize("name", list(RELATIONS), ids=[f"datamodel/{REQ_NAME[n]}/relations"
                                                       for n in RELATIONS])
def test_req_datamodel_entity_relations(server, name):
    """/req/datamodel/<entity>/relations: each relation has a navigationLink, and following it
    gives entities of the related set."""
    got = sta(server, name, **{"$top": "1"})["value"]
    if name == "HistoricalLocations":
        assert got == []
        thing = sta(server, "Things(1)")
        assert sta(server, "Things(1)/HistoricalLocations")["value"] == []
        assert thing["HistoricalLocations@iot.navigationLink"].endswith(
            "Things(1)/HistoricalLocations")
        return
    e = got[0]
    for nav, target in RELATIONS[name].items():
        link = e[f"{nav}@iot.navigationLink"]
        code, _, body = get(link)
        assert code == 200, (name, nav, body[:200])
        doc = json.loads(body)
        items = doc.get("value", [doc])
        for item in items[:3]:
            assert f"/{target}(" in item["@iot.selfLink"], (name, nav, item["@iot.selfLink"])


def test_observations_never_hold_invalid_and_mark_preliminary(server):
    """Only valid hourly values are published; unreviewed ones say preliminary."""
    ds = _air_datastream(server)
    obs = sta(server, f"Datastreams({ds['@iot.id']})/Observations")["value"]
    assert obs and all(isinstance(o["result"], int) for o in obs)
    assert all(o["parameters"]["preliminary"] is True for o in obs)


# -- filtering ------------------------------------------------------------------------------
def test_req_request_data_filter(server):
    """/req/request-data/filter: $filter on properties, paths through relations, and/or/not."""
    got = sta(server, "Things", **{"$filter": "properties/kind eq 'air' and not "
                                              "(properties/station eq 'pq-air-01')"})["value"]
    assert len(got) == 15 and all(t["properties"]["kind"] == "air" for t in got)
    ds = sta(server, "Datastreams", **{"$filter": "Thing/@iot.id eq 3 or Thing/id eq 4"})
    assert {d["name"][:9] for d in ds["value"]} == {"pq-air-03", "pq-air-04"}


def test_req_request_data_built_in_filter_operations(server):
    """/req/request-data/built-in-filter-operations: eq ne gt ge lt le, and or not, add sub
    mul div mod, parentheses."""
    ds = _air_datastream(server)
    base = f"Datastreams({ds['@iot.id']})/Observations"
    allv = [o["result"] for o in sta(server, base)["value"]]
    pivot = sorted(allv)[len(allv) // 2]
    for op, fn in (("gt", lambda v: v > pivot), ("ge", lambda v: v >= pivot),
                   ("lt", lambda v: v < pivot), ("le", lambda v: v <= pivot),
                   ("eq", lambda v: v == pivot), ("ne", lambda v: v != pivot)):
        got = [o["result"] for o in sta(server, base, **{"$filter": f"result {op} {pivot}"})[
            "value"]]
        assert sorted(got) == sorted(v for v in allv if fn(v)), op
    got = sta(server, base, **{"$filter": f"(result add 1) mul 2 sub 2 div 1 eq {pivot} mul 2 "
                                          "and result mod 1 eq 0"})["value"]
    assert got and all(o["result"] == pivot for o in got)


def test_req_request_data_built_in_query_functions(server):
    """/req/request-data/built-in-query-functions: string, date and maths functions."""
    cases = {"substringof('Đông', name)": lambda t: "Đông" in t["name"],
             "startswith(properties/station, 'pq-ww')": lambda t: t["properties"][
                 "station"].startswith("pq-ww"),
             "endswith(properties/station, '-01')": lambda t: t["properties"][
                 "station"].endswith("-01"),
             "length(properties/station) eq 9": lambda t: len(t["properties"]["station"]) == 9,
             "tolower(toupper(properties/kind)) eq 'air'": lambda t: t["properties"][
                 "kind"] == "air",
             "indexof(properties/station, 'sea') eq 3": lambda t: "sea" in t["properties"][
                 "station"],
             "substring(properties/station, 3, 3) eq 'tap'": lambda t: "tap" in t[
                 "properties"]["station"],
             "trim(concat(' ', properties/kind)) eq 'air'": lambda t: t["properties"][
                 "kind"] == "air",
             "round(@iot.id div 2) eq ceiling(@iot.id div 2) and floor(1.5) eq 1":
                 lambda t: round(t["@iot.id"] / 2 + 1e-9) == -(-t["@iot.id"] // 2)}
    things = sta(server, "Things", **{"$top": "100"})["value"]
    for expr, fn in cases.items():
        got = {t["@iot.id"] for t in sta(server, "Things", **{"$filter": expr})["value"]}
        assert got == {t["@iot.id"] for t in things if fn(t)}, expr
    ds = _air_datastream(server)
    obs = sta(server, f"Datastreams({ds['@iot.id']})/Observations")["value"]
    year = int(obs[0]["phenomenonTime"][:4])
    for expr in (f"year(phenomenonTime) eq {year}", "hour(phenomenonTime) ge 0 and "
                 "minute(phenomenonTime) eq 0 and second(phenomenonTime) eq 0 and "
                 "month(phenomenonTime) ge 1 and day(phenomenonTime) ge 1",
                 "phenomenonTime lt maxdatetime() and phenomenonTime gt mindatetime()",
                 f"phenomenonTime ge {obs[-1]['phenomenonTime']}"):
        got = sta(server, f"Datastreams({ds['@iot.id']})/Observations", **{"$filter": expr})
        assert len(got["value"]) == len(obs), expr


def test_req_request_data_orderby(server):
    """/req/request-data/orderby: asc, desc, several keys."""
    names = [t["name"] for t in sta(server, "Things", **{"$orderby": "name desc"})["value"]]
    assert names == sorted(names, reverse=True)
    got = sta(server, "Things", **{"$orderby": "properties/kind asc, @iot.id desc"})["value"]
    keys = [(t["properties"]["kind"], -t["@iot.id"]) for t in got]
    assert keys == sorted(keys)


def test_req_request_data_select(server):
    """/req/request-data/select: only the selected properties."""
    got = sta(server, "Things", **{"$select": "name,id"})["value"][0]
    assert set(got) == {"name", "@iot.id"}


def test_req_request_data_count(server):
    """/req/request-data/count: @iot.count is the whole filtered collection's size."""
    got = sta(server, "Things", **{"$count": "true", "$top": "2",
                                   "$filter": "properties/kind eq 'air'"})
    assert got["@iot.count"] == 16 and len(got["value"]) == 2


def test_req_request_data_status_code(server):
    """/req/request-data/status-code: an entity, set or property that is not there is 404; what
    is there is 200."""
    for path in ("Things(9999)", "Nothings", "Things(1)/nosuch", "Things(1)/Datastreams(1)",
                 "Observations(1)"):
        code, doc = status(server, path)
        assert code == 404 and doc["error"], path
    assert status(server, "Things(1)")[0] == 200


def test_req_request_data_query_status_code(server):
    """/req/request-data/query-status-code: a query option (or function) the service does not
    implement fails the request with 501 Not Implemented, naming it."""
    for path, says in (("Things?$resultFormat=dataArray", "$resultFormat"),
                       ("Things?$search=air", "$search"),
                       ("Locations?$filter=geo.distance(location, "
                        "geography'POINT(103.9 10.2)') lt 1", "geo.distance"),
                       ("Things?$filter=st_within(name, name)", "st_within")):
        code, doc = status(server, path.replace(" ", "%20"))
        assert code == 501, (path, code, doc)
        assert says in doc["error"], (path, doc)


def test_req_request_data_order(server):
    """/req/request-data/order: $filter, then $count, $orderby, $skip, $top, then $expand and
    $select, whatever their order in the URL."""
    got = sta(server, "Things", **{"$select": "id,name,Locations", "$top": "3", "$skip": "2",
                                   "$expand": "Locations($select=id)", "$count": "true",
                                   "$orderby": "name desc",
                                   "$filter": "properties/kind eq 'air'"})
    every = sta(server, "Things", **{"$filter": "properties/kind eq 'air'"})["value"]
    want = sorted(every, key=lambda t: t["name"], reverse=True)[2:5]
    assert got["@iot.count"] == 16
    assert [t["@iot.id"] for t in got["value"]] == [t["@iot.id"] for t in want]
    assert all(set(t) == {"@iot.id", "name", "Locations"} for t in got["value"])
    assert all(t["Locations"] == [{"@iot.id": t["@iot.id"]}] for t in got["value"])


def test_bad_odata_is_400_naming_what_is_wrong(server):
    """A query option the service cannot read is a 400 whose message names what is wrong,
    never a 500 (OData's rule for a malformed request)."""
    for path, says in (("Things?$filter=name eq", "ends too early"),
                       ("Things?$filter=name eqq 'x'", "eqq"),
                       ("Things?$filter=nosuch eq 1", "nosuch"),
                       ("Things?$filter=frobnicate(name)", "frobnicate"),
                       ("Things?$filter=(name eq 'x'", "ends too early"),
                       ("Things?$filter=name eq 'x')", "unexpected"),
                       ("Things?$top=-1", "$top"), ("Things?$top=1001", "1000"),
                       ("Things?$skip=x", "$skip"), ("Things?$orderby=", "empty"),
                       ("Things?$select=nosuch", "nosuch"), ("Things?$expand=Nosuch", "Nosuch"),
                       ("Things?$count=maybe", "maybe"), ("Things?$frob=1", "$frob"),
                       ("Things?$filter=" + "(" * 3000 + "1" + ")" * 3000, "nested deeper"),
                       ("Things?$expand=" + "/".join(["Datastreams/Thing"] * 8),
                        "nested deeper"),
                       ("Observations?$filter=phenomenonTime gt 'x' and result gt "
                        "2020-01-01T00:00:00Z", "compare")):
        code, doc = status(server, path.replace(" ", "%20"))
        assert code == 400, (path, code, doc)
        assert says in doc["error"], (path, doc)


# -- expansion ------------------------------------------------------------------------------
def test_req_request_data_expand(server):
    """/req/request-data/expand: a relation inline, with nested options and with a path."""
    t = sta(server, "Things(2)", **{"$expand": "Datastreams($select=name;$top=2;"
                                               "$orderby=name asc),Locations"})
    assert len(t["Datastreams"]) == 2 and set(t["Datastreams"][0]) == {"name"}
    assert t["Datastreams"][0]["name"] <= t["Datastreams"][1]["name"]
    assert t["Locations"][0]["location"]["coordinates"][0] > 100
    d = sta(server, "Datastreams", **{"$top": "1", "$expand": "Thing/Locations,"
                                                              "ObservedProperty"})["value"][0]
    assert d["Thing"]["Locations"][0]["@iot.id"] == d["Thing"]["@iot.id"]
    assert d["ObservedProperty"]["definition"].startswith("urn:quantrac:param:")
    ds = _air_datastream(server)
    got = sta(server, f"Datastreams({ds['@iot.id']})", **{
        "$expand": "Observations($filter=result gt 0;$top=3;$count=true)"})
    assert len(got["Observations"]) == 3 and got["Observations@iot.count"] > 3
    assert "Observations@iot.nextLink" in got


# -- paging ---------------------------------------------------------------------------------
def test_req_request_data_top(server):
    """/req/request-data/top: at most $top entities."""
    assert len(sta(server, "Things", **{"$top": "3"})["value"]) == 3


def test_req_request_data_skip(server):
    """/req/request-data/skip: the first $skip entities are left out."""
    every = [t["@iot.id"] for t in sta(server, "Things")["value"]]
    assert [t["@iot.id"] for t in sta(server, "Things", **{"$skip": "5"})["value"]] == every[5:]


def test_req_request_data_pagination(server):
    """/req/request-data/pagination: @iot.nextLink leads through the whole collection, each
    entity once, and the last page has none."""
    url = f"{server.url}/sta/v1.1/Things?$top=7&$filter=id%20gt%200"
    seen: list[int] = []
    while url:
        code, _, body = get(url)
        doc = json.loads(body)
        seen += [t["@iot.id"] for t in doc["value"]]
        url = doc.get("@iot.nextLink")
    assert seen == list(range(1, 27))


def test_writes_are_refused(server):
    import urllib.request
    req = urllib.request.Request(f"{server.url}/sta/v1.1/Things", data=b"{}", method="POST")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("POST accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 405


# -- an independent client ------------------------------------------------------------------
def test_frost_sta_client_reads_things_datastreams_observations(server):
    import frost_sta_client as fsc

    service = fsc.SensorThingsService(f"{server.url}/sta/v1.1")
    things = list(service.things().query().top(50).list())
    assert len(things) == 26
    assert things[1].name == "Dương Đông - Chợ đêm"
    datastreams = list(service.datastreams().query().filter(
        "Thing/properties/station eq 'pq-air-02'").list())
    aqi = [d for d in datastreams if d.name.endswith("VN_AQI")]
    assert aqi
    obs = list(aqi[0].get_observations().query().top(5).list())
    assert obs and all(isinstance(o.result, int) for o in obs)
