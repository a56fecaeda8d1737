"""The dashboards are code: regenerating gives the committed files byte for byte, every one
survives the SDK's models, and what they show that is data elsewhere (index colours, QCVN
limits, stations) is read from there, not retyped."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from grafana import build, facts
from grafana.labels import LANGS, TEXTS
from grafana.validate import DashboardInvalid, validate
from quantrac.cli import main

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "collector" / "domain" / "tables"
RULES = ROOT / "collector" / "rules"
VIETNAMESE = re.compile(r"[ăâđêôơưĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụ"
                        r"ừứửữựỳýỷỹỵ]")
DOCS = {lang: build.dashboards(lang) for lang in LANGS}


def _panels(doc: dict) -> list[dict]:
    return [p for p in doc["panels"] if p["type"] != "row"]


def _by_uid(lang: str, uid: str) -> dict:
    return next(d for d in DOCS[lang] if d["uid"] == uid)


def _hex(rgb: list[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def test_regenerating_gives_the_committed_files_byte_for_byte():
    assert build.differences() == [], "run `quantrac grafana build` and commit the result"
    for rel, text in build.outputs().items():
        assert (build.HERE / rel).read_bytes() == text.encode("utf-8"), rel


def test_build_check_notices_a_hand_edited_file(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["grafana", "build", "--out", str(tmp_path)]).exit_code == 0
    ok = runner.invoke(main, ["grafana", "build", "--out", str(tmp_path), "--check"])
    assert ok.exit_code == 0, ok.output
    edited = tmp_path / "dashboards" / "overview.json"
    edited.write_text(edited.read_text().replace('"now-24h"', '"now-6h"'))
    (tmp_path / "dashboards" / "old.json").write_text("{}")
    bad = runner.invoke(main, ["grafana", "build", "--out", str(tmp_path), "--check"])
    assert bad.exit_code == 1
    assert "dashboards/overview.json" in bad.output and "dashboards/old.json" in bad.output


@pytest.mark.parametrize("lang", LANGS)
def test_every_dashboard_survives_the_sdk_models(lang):
    for doc in DOCS[lang]:
        model = validate(doc)
        assert model.uid == doc["uid"]


def test_the_round_trip_catches_what_the_models_do_not_know():
    doc = copy.deepcopy(_by_uid("vi", "quantrac-overview"))
    doc["panels"][0]["options"]["colour"] = "red"
    with pytest.raises(DashboardInvalid, match=r"/panels\[0\]/options/colour"):
        validate(doc)
    doc = copy.deepcopy(_by_uid("vi", "quantrac-overview"))
    doc["panels"][1]["targets"][0]["datasource"]["uid"] = "someone-elses-influxdb"
    with pytest.raises(DashboardInvalid, match="does not use the provisioned data source"):
        validate(doc)


def test_the_expected_dashboards_exist_in_both_languages():
    uids = {d["uid"] for d in DOCS["vi"]}
    assert uids == {"quantrac-overview", "quantrac-air", "quantrac-alerts", "quantrac-quality",
                    "quantrac-wall", "quantrac-water-qcvn01-1_2024",
                    "quantrac-water-qcvn08_2023-a", "quantrac-water-qcvn14_2025-a",
                    "quantrac-water-qcvn14_2025-b", "quantrac-water-qcvn10_2023-bathing",
                    "quantrac-water-qcvn10_2023-aquaculture", "quantrac-noise"}
    assert {d["uid"] for d in DOCS["en"]} == {f"{u}-en" for u in uids}
    for vi, en in zip(DOCS["vi"], DOCS["en"], strict=True):
        assert [p["type"] for p in vi["panels"]] == [p["type"] for p in en["panels"]]
        assert vi["title"] != en["title"]


def test_english_dashboards_show_no_vietnamese_and_every_label_has_both():
    assert all(vi and en for vi, en in TEXTS.values())
    for doc in DOCS["en"]:
        shown = [doc["title"], *(v.get("label", "") for v in doc["templating"].get("list", []))]
        for p in doc["panels"]:
            shown += [p.get("title", ""), p.get("description", "")]
        text = json.dumps(shown, ensure_ascii=False)
        assert not VIETNAMESE.search(text), (doc["uid"], VIETNAMESE.findall(text))
    vi = json.dumps([p.get("title") for d in DOCS["vi"] for p in d["panels"]],
                    ensure_ascii=False)
    assert VIETNAMESE.search(vi)


def test_index_colours_are_the_official_ones_from_the_tables():
    aqi = json.loads((TABLES / "vn_aqi_1459.json").read_text())["bands"]
    wqi = json.loads((TABLES / "vn_wqi_1460.json").read_text())["classes"]
    overview = json.dumps(_by_uid("vi", "quantrac-overview"))
    for band in aqi + wqi:
        assert _hex(band["rgb"]) in overview, band["key"]
    geomap = _panels(_by_uid("vi", "quantrac-overview"))[0]
    by_field = {o["matcher"]["options"]: o["properties"] for o in
                geomap["fieldConfig"]["overrides"]}
    steps = next(p["value"]["steps"] for p in by_field["aqi"] if p["id"] == "thresholds")
    assert [s["color"] for s in steps] == [_hex(b["rgb"]) for b in aqi]
    assert [s["value"] for s in steps][1:] == [b["max"] + 1 for b in aqi[:-1]]
    mapped = next(p["value"] for p in by_field["band"] if p["id"] == "mappings")[0]["options"]
    assert {k: (v["text"], v["color"]) for k, v in mapped.items()} == {
        b["key"]: (b["vi"], _hex(b["rgb"])) for b in aqi}


def _limit_panels(doc: dict) -> dict[tuple[str, str], list]:
    out = {}
    for p in _panels(doc):
        q = p.get("targets", [{}])[0].get("query", "")
        m = re.search(r"FROM \"derived\".\"mean\" WHERE .*\"param\" = '(\w+)' "
                      r"AND \"period\" = '(\w+)'", q)
        if m:
            steps = p["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
            out[m.groups()] = [(s["value"], s["color"]) for s in steps]
    return out


def test_air_limits_are_the_rule_files_numbers_for_each_averaging_period():
    limits = json.loads((RULES / "qcvn05_2023.json").read_text())["limits"]
    panels = _limit_panels(_by_uid("vi", "quantrac-air"))
    measured = set(facts.groups()[0].params)
    for lim in limits:
        if lim["param"] not in measured:
            assert (lim["param"], lim["period"]) not in panels
            continue
        assert (float(lim["max"]), "red") in panels[(lim["param"], lim["period"])], lim


def test_water_limits_follow_the_station_class_column():
    # QCVN 14:2025 values are not found: the lines are the QCVN 14:2008 fallback's, labelled
    doc = json.loads((RULES / "qcvn14_2025.json").read_text())
    for column, uid in (("A", "quantrac-water-qcvn14_2025-a"),
                        ("B", "quantrac-water-qcvn14_2025-b")):
        panels = _limit_panels(_by_uid("en", uid + "-en"))
        for lim in doc["limits"]:
            if "fallback" not in lim:  # COD: not found and no fallback: a panel, no limit line
                assert "red" not in {c for _, c in panels.get((lim["param"], lim["period"]), [])}
                continue
            fb = lim["fallback"]
            steps = panels[(lim["param"], lim["period"])]
            assert (float(fb["max"][column]), "red") in steps
            if "min" in fb:  # pH: red below the minimum, clear from it on
                assert steps[0] == (None, "red") and \
                    (float(fb["min"][column]), "transparent") in steps
    sea = _limit_panels(_by_uid("vi", "quantrac-water-qcvn10_2023-aquaculture"))
    assert sea[("do", "1h")] == [(None, "red"), (5.0, "transparent")]
    assert (0.1, "red") in sea[("nh4", "1h")]


def test_a_fallback_limit_says_whose_number_it_is():
    doc = _by_uid("en", "quantrac-water-qcvn14_2025-b-en")
    tss = next(p for p in _panels(doc) if "'tss' AND \"period\" = '1h'" in
               p.get("targets", [{}])[0].get("query", ""))
    assert "Limit from QCVN 14:2008/BTNMT, pending QCVN 14:2025/BTNMT text." in \
        tss["description"]
    raw = _by_uid("en", "quantrac-water-qcvn08_2023-a-en")
    nh4 = next(p for p in _panels(raw) if "'nh4' AND \"period\" = '1h'" in
               p.get("targets", [{}])[0].get("query", ""))
    assert "pending" not in nh4["description"]  # QCVN 08:2023's own value


def test_vn_wqi_is_on_the_surface_water_dashboard_only_and_labelled_indicative():
    for doc in DOCS["en"]:
        queries = json.dumps([t.get("query", "") for p in _panels(doc)
                              for t in p.get("targets", [])])
        if doc["uid"].startswith("quantrac-water-"):
            assert ('FROM \\"derived\\".\\"wqi\\"' in queries) == \
                (doc["uid"] == "quantrac-water-qcvn08_2023-a-en"), doc["uid"]
    raw = {p["title"]: p for p in _panels(_by_uid("en", "quantrac-water-qcvn08_2023-a-en"))}
    assert '"indicative_wqi"' in raw["Latest hourly indicative VN_WQI"]["targets"][0]["query"]
    official = raw["Official VN_WQI (Decision 1460)"]
    assert 'last("status")' in official["targets"][0]["query"]
    assert official["options"]["textMode"] == "value"
    assert 'last("wqi")' in raw["Hourly VN_WQI, indicative (surface water)"]["targets"][0][
        "query"]  # the official index beside the indicative one, once the data suffice
    assert 'last("why")' in raw["Why no official VN_WQI"]["targets"][0]["query"]
    overview = json.dumps(_by_uid("en", "quantrac-overview-en"))
    assert 'last(\\"wqi\\")' not in overview and "indicative_wqi" in overview


def test_station_variables_and_gazetteer_come_from_the_registry():
    reg = facts.network()
    keys = [g["key"] for g in json.loads(
        (build.HERE / "provisioning" / "gazetteer" / "quantrac-phu-quoc.json").read_text())]
    assert keys == reg.ids()
    ww_b = _by_uid("vi", "quantrac-water-qcvn14_2025-b")["templating"]["list"][0]
    wanted = sorted(s.id for s in reg.stations if s.kind == "wastewater" and s.column == "B")
    assert f"/^({'|'.join(wanted)})$/" in ww_b["query"]


def test_every_time_series_dashboard_carries_the_alert_annotation():
    for lang in LANGS:
        for doc in DOCS[lang]:
            (a,) = doc["annotations"]["list"]
            target = a["target"]
            assert target["textColumn"] == ("text" if lang == "vi" else "text_en")
            assert 'FROM "derived"."alert"' in target["query"] and "$timeFilter" in target["query"]


def test_the_wall_fills_twelve_screens_with_whole_panels():
    wall = _by_uid("vi", "quantrac-wall")
    covered = set()
    for p in _panels(wall):
        g = p["gridPos"]
        assert g["x"] % 6 == 0 and g["w"] % 6 == 0, p["title"]
        rows = range(g["y"], g["y"] + g["h"])
        screens_y = {y // 28 for y in rows}
        assert len(screens_y) == 1, f"{p['title']} crosses a screen edge"
        assert "Màn" in p.get("description", ""), p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in rows:
                assert (x, y) not in covered, f"{p['title']} overlaps"
                covered.add((x, y))
    assert len(covered) == 24 * 28 * 3  # four screens across, three high, nothing blank
