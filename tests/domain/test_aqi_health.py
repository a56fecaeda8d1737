"""Every published VN_AQI carries the band's colour, the health message (Decision 1459, Bảng 4)
and the recommended activities for the general public and sensitive groups (Bảng 5), in
Vietnamese verbatim and in English, from data: the CLI, the AQI alerts (MQTT, webhook, e-mail
texts), the e-gov index document and the dashboards (open data: test_aqi_health_live.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from collector.contracts import Batch, Point
from collector.domain import aqi, aqi_health
from collector.egov import messages as egov
from collector.processors.alerts.plugin import AlertsProcessor
from collector.sinks.notify import plugin as notify
from grafana import build
from quantrac.cli import main

REFERENCE = Path("/work/shared/reference/vn-standards-2025.md")
BANDS = ("good", "moderate", "poor", "bad", "very_bad", "hazardous")
POOR_HEALTH_VI = ("Những người nhạy cảm gặp phải các vấn đề về sức khỏe, những người bình "
                  "thường ít ảnh hưởng.")
POOR_SENSITIVE_VI = ("Nên giảm các hoạt động mạnh và giảm thời gian hoạt động ngoài trời. "
                     "Những người mắc bệnh hen suyễn có thể cần sử dụng thuốc thường xuyên hơn.")
POOR_SENSITIVE_EN = ("Reduce strenuous activity and time spent outdoors. People with asthma may "
                     "need their medication more often.")


def _cells(section: str) -> dict[str, list[str]]:
    """AQI range → the cells of a markdown table in the reference's section."""
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.match(r"(\d+)–(\d+)", cells[0]) if len(cells) >= 3 else None
        if m:
            out[m.group(0)] = cells[1:]
    return out


@pytest.mark.skipif(not REFERENCE.exists(), reason="the shared reference is not on this machine")
def test_the_texts_are_the_references_verbatim():
    text = REFERENCE.read_text(encoding="utf-8")
    table4 = _cells(text.split("### Bảng 4")[1].split("###")[0])
    table5 = _cells(text.split("### Bảng 5")[1].split("###")[0])
    ranges = ["0–50", "51–100", "101–150", "151–200", "201–300", "301–500"]
    for key, r in zip(BANDS, ranges, strict=True):
        info = aqi_health.of_band(key)
        assert [info["health"]["vi"], info["health"]["en"]] == table4[r], key
        for part, cell in zip(("general", "sensitive"), table5[r], strict=True):
            if cell.startswith("Same text"):  # 301-500: one merged cell for both groups
                assert info[part] == info["general"], key
                continue
            vi, en = re.match(r"(.+?) \*\((.+)\)\*$", cell).groups()
            assert (info[part]["vi"], info[part]["en"]) == (vi, en), (key, part)


def test_every_band_has_its_colour_and_all_six_texts():
    for b in aqi.default_table().bands:
        info = aqi_health.of_band(b.key)
        assert info["colour"] == "#{:02x}{:02x}{:02x}".format(*b.rgb)
        assert info["missing"] == [], b.key
        assert all(info[p][lang] for p in aqi_health.PARTS for lang in ("vi", "en"))
    assert aqi_health.of_band("very_bad")["health"]["vi"].startswith("Cảnh báo hưởng tới")
    assert aqi_health.of_aqi(130)["sensitive"]["vi"] == POOR_SENSITIVE_VI


def test_a_text_the_reference_lacks_is_marked_missing_never_invented():
    doc = json.loads(aqi_health.HEALTH_PATH.read_text(encoding="utf-8"))
    doc["bands"]["bad"]["sensitive"]["vi"] = None
    info = aqi_health.parse(doc, aqi.default_table().bands)["bad"]
    assert info["missing"] == ["sensitive.vi"] and info["sensitive"]["vi"] is None
    assert "Nhóm người nhạy cảm" not in aqi_health.sentence(info, "vi")


@pytest.mark.parametrize(("change", "says"), [
    (lambda d: d["bands"].pop("poor"), "bands.poor is missing"),
    (lambda d: d["bands"]["poor"]["health"].update(vi=""), "bands.poor.health.vi is not text"),
    (lambda d: d["bands"].update(awful={}), "bands.awful is not a band of the AQI table"),
])
def test_a_broken_health_file_is_named(change, says):
    doc = json.loads(aqi_health.HEALTH_PATH.read_text(encoding="utf-8"))
    change(doc)
    with pytest.raises(aqi_health.HealthTableError, match=re.escape(says)):
        aqi_health.parse(doc, aqi.default_table().bands)


def test_the_cli_answers_with_the_colour_and_the_messages():
    res = CliRunner().invoke(main, ["index", "aqi"], input=json.dumps({"so2": [525.0],
                                                                       "pm10": [40.0] * 12}))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["aqi"], doc["band"], doc["colour"]) == (144, "poor", "#ff7e00")
    assert doc["advice"]["health"]["vi"] == POOR_HEALTH_VI
    assert doc["advice"]["sensitive"]["en"] == POOR_SENSITIVE_EN
    assert doc["advice"]["general"]["vi"].startswith("Những người thấy có triệu chứng đau mắt")
    none = json.loads(CliRunner().invoke(main, ["index", "aqi"],
                                         input='{"so2": [125]}').stdout)
    assert (none["aqi"], none["band"], none["colour"], none["advice"]) == (None,) * 4


def test_an_aqi_alert_carries_them_in_payload_point_and_texts():
    stage = AlertsProcessor("phu-quoc")
    p = Point("aqi", {"station": "pq-air-05", "period": "hour"},
              {"aqi": 130, "band": "poor", "complete": True}, 1763758800)
    (a,) = [x for x in stage.process(Batch([], points=[p])).points if x.measurement == "alert"]
    assert a.note["colour"] == "#ff7e00" == a.fields["colour"]
    assert a.note["advice"]["sensitive"] == {"vi": POOR_SENSITIVE_VI, "en": POOR_SENSITIVE_EN}
    # the texts are what the e-mail and the retained message's readers see
    assert POOR_HEALTH_VI in a.note["text_vi"] and POOR_HEALTH_VI in a.fields["text"]
    assert f"Nhóm người nhạy cảm: {POOR_SENSITIVE_VI}" in a.note["text_vi"]
    assert f"Sensitive groups: {POOR_SENSITIVE_EN}" in a.note["text_en"]
    assert "General public: People with symptoms" in a.note["text_en"]
    mail = notify.message(a, "quantrac@localhost", ("so@example.org",)).get_content()
    assert "colour: #ff7e00" in mail and f"Nhóm người nhạy cảm: {POOR_SENSITIVE_VI}" in mail


def test_the_egov_index_document_carries_them_and_keeps_its_key():
    p = Point("aqi", {"station": "pq-air-01", "period": "hour"},
              {"aqi": 144, "band": "poor", "dominant": "so2", "sub_so2": 144}, 1763758800)
    key, doc = egov.index_doc(p, "phu-quoc", "PQ01", ZoneInfo("Asia/Ho_Chi_Minh"))
    assert (doc["band"], doc["colour"]) == ("poor", "#ff7e00")
    assert doc["advice"]["health"]["vi"] == POOR_HEALTH_VI
    assert doc["advice"]["sensitive"]["en"] == POOR_SENSITIVE_EN
    assert key.startswith("aqi/pq-air-01/1763758800/") and "advice" not in key


def test_the_dashboards_show_them_by_band():
    docs = {(lang, d["uid"]): d for lang in ("vi", "en") for d in build.dashboards(lang)}

    def mapped(doc: dict, part: str) -> dict[str, dict]:
        for panel in doc["panels"]:
            for o in panel.get("fieldConfig", {}).get("overrides", []):
                if o["matcher"]["options"] == part:
                    for prop in o["properties"]:
                        if prop["id"] == "mappings":
                            return prop["value"][0]["options"]
        return {}

    for uid in ("quantrac-air", "quantrac-overview"):
        vi, en = docs[("vi", uid)], docs[("en", f"{uid}-en")]
        assert mapped(vi, "health")["poor"]["text"] == POOR_HEALTH_VI, uid
        assert mapped(vi, "health")["poor"]["color"] == "#ff7e00", uid
        assert mapped(vi, "sensitive")["poor"]["text"] == POOR_SENSITIVE_VI, uid
        assert mapped(en, "sensitive")["poor"]["text"] == POOR_SENSITIVE_EN, uid
        assert mapped(en, "general")["hazardous"]["text"].startswith("Everyone should stay")
