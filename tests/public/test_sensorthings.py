"""The read-only OGC SensorThings API 1.1 view (OGC 18-088): one test per requirement of the
read-only core (resource path, data model), filtering, expansion and paging classes it serves
(the requirement ids, under http://www.opengis.net/spec/iot_sensing/1.1/, in each test's name
and docstring), bad OData answering 400, and frost_sta_client, an independent client from
PyPI, reading Things, Datastreams and Observations."""

from __future__ import annotations

import json
import urllib.parse

from conftest import get

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
def test_req_datamodel_entity_properties_and_links(server):
    """/req/datamodel/thing/properties, /req/datamodel/location/properties,
    /req/datamodel/datastream/properties, /req/datamodel/observation/properties,
    /req/datamodel/sensor/properties, /req/datamodel/observed-property/properties,
    /req/datamodel/feature-of-interest/properties: mandatory properties, @iot.id,
    @iot.selfLink and a navigationLink per relation."""
    need = {"Things": ("name", "description", "Locations@iot.navigationLink",
                       "Datastreams@iot.navigationLink"),
            "Locations": ("name", "description", "encodingType", "location"),
            "Sensors": ("name", "description", "encodingType", "metadata"),
            "ObservedProperties": ("name", "definition", "description"),
            "Datastreams": ("name", "description", "unitOfMeasurement", "observationType",
                            "Thing@iot.navigationLink", "Observations@iot.navigationLink"),
            "Observations": ("phenomenonTime", "result", "resultTime",
                             "Datastream@iot.navigationLink",
                             "FeatureOfInterest@iot.navigationLink"),
            "FeaturesOfInterest": ("name", "description", "encodingType", "feature")}
    for name, props in need.items():
        e = sta(server, name, **{"$top": "1"})["value"][0]
        assert e["@iot.selfLink"].endswith(f"{name}({e['@iot.id']})"), name
        missing = [p for p in props if p not in e]
        assert not missing, (name, missing)


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


def test_req_request_data_status_code_bad_odata_is_400(server):
    """/req/request-data/status-code: a query option the service cannot read is a 400 whose
    message names what is wrong, never a 500."""
    for path, says in (("Things?$filter=name eq", "ends too early"),
                       ("Things?$filter=name eqq 'x'", "eqq"),
                       ("Things?$filter=nosuch eq 1", "nosuch"),
                       ("Things?$filter=frobnicate(name)", "frobnicate"),
                       ("Things?$filter=(name eq 'x'", "ends too early"),
                       ("Things?$filter=name eq 'x')", "unexpected"),
                       ("Things?$top=-1", "$top"), ("Things?$top=1001", "1000"),
                       ("Things?$skip=x", "$skip"), ("Things?$orderby=", "empty"),
                       ("Things?$select=nosuch", "nosuch"), ("Things?$expand=Nosuch", "Nosuch"),
                       ("Things?$count=maybe", "maybe"), ("Things?$search=x", "$search"),
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
