"""The desk's rules without the stack: answers and contacts that cannot be taken are named
precisely (the operator reads these in the CLI and the dead letters), the chain is checked at
load against the outputs that would carry it, and the stage's answers, calibration silence and
escalation clock behave as documented (collector/alerting/desk.py)."""

from __future__ import annotations

import json

import pytest

from collector.alerting import desk
from collector.config import ConfigError, Settings
from collector.contracts import Reading
from collector.processors.alerts.plugin import AlertsProcessor

ENV = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
       "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
       "QUANTRAC_INFLUX_URL": "http://127.0.0.1:8086",
       "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
       "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}
T = 1763755200
ST = "pq-air-01"


def answer(**doc) -> bytes:
    return json.dumps({"v": 1, "by": "An", "t": T, **doc}).encode()


@pytest.mark.parametrize("doc, error", [
    (b"not json", "answer is not JSON"),
    (answer(act="close"), "act: 'close' is not one of ack, silence, unsilence"),
    (answer(act="ack", alert="pq-air-01/x"), "is not an alert id <station>/<rule>/<time>"),
    (answer(act="ack", alert=f"pq-air-02/offline/{T}"), "is not an alert of pq-air-01"),
    (answer(act="ack", alert=f"pq-air-01/offline/{T}", by=""), "by: who answers must be named"),
    (answer(act="silence", until=T + 60), "a silence needs a reason"),
    (answer(act="silence", reason="x", until=T - 60), f"until: {T - 60} is not after"),
    (answer(act="ack", alert=f"pq-air-01/offline/{T}", note="x" * 501), "at most 500"),
    # times no clock gives: before, they reached a local date or a point's time and broke
    # the answer's handling with an OverflowError/TypeError (the message left unacknowledged)
    (answer(act="silence", reason="x", until=10**20), "until: 100000000000000000000 is not"),
    (answer(act="silence", reason="x", until=None), "until: None is not an epoch time"),
    (answer(act="silence", reason="x", until=T + 60, **{"from": 1.5}), "from: 1.5 is not"),
    (answer(act="ack", alert=f"pq-air-01/offline/{T}", t=2**63), "t: 9223372036854775808"),
])
def test_an_answer_that_cannot_be_taken_says_why(doc, error):
    with pytest.raises(desk.AnswerError) as e:
        desk.parse_answer(doc, ST)
    assert error in str(e.value)


def test_an_unsilence_ends_what_covers_now_whatever_times_it_carries():
    a = desk.parse_answer(answer(act="unsilence", until=None, **{"from": [1]}), ST)
    assert (a.act, a.station, a.by, a.t) == ("unsilence", ST, "An", T)


@pytest.mark.parametrize("contact, error", [
    ("telegram:1", "expected '<level 1-9> <channel>:<address> …'"),
    ("1 sms:0901234567", "channel 'sms' is not one of email, webhook, zalo, telegram"),
    ("1 email:nobody", "'nobody' is not an e-mail address"),
    ("2 zalo:abc", "'abc' is not a zalo user or chat id"),
    ("1 webhook:ftp://x", "is not an http(s) URL"),
])
def test_a_contact_that_cannot_be_reached_is_refused_at_load_naming_it(tmp_path, contact,
                                                                       error):
    with pytest.raises(ConfigError) as e:
        Settings.from_env(ENV, tmp_path, {"processors": {"alerts": {"contacts": [contact]}}})
    assert "contacts:" in str(e.value) and error in str(e.value)


def test_a_contact_on_an_output_that_is_off_is_refused_at_load(tmp_path):
    with pytest.raises(ConfigError) as e:
        Settings.from_env(ENV, tmp_path, {"processors": {"alerts": {
            "contacts": ["1 email:truc.ban@stnmt.example"]}}})
    assert "reached by email, but that output is off (set [sinks.notify] smtp_host)" in \
        str(e.value)
    with pytest.raises(ConfigError, match="escalate: 'urgent' is not one of"):
        Settings.from_env(ENV, tmp_path, {"processors": {"alerts": {"escalate": ["urgent"]}}})


def _error(t: int, status: int = 2) -> Reading:
    return Reading(ST, "air", "co", "ppm", t, 1.0, status, 1, 30, 0, None, None, 0, None,
                   "b", t)


def _stage(after_s: float = 60.0) -> AlertsProcessor:
    chain = desk.chain(("1 telegram:1", "2 telegram:2"), ("warning",), after_s)
    return AlertsProcessor(tick_s=0.5, chain=chain)


def test_escalation_waits_its_delay_goes_one_level_at_a_time_and_stops_at_an_ack():
    from collector.contracts import Batch

    stage = _stage(60)
    points = stage.process(Batch([], readings=[_error(T), _error(T + 600)])).points
    opened = next(p for p in points if p.note and p.note["event"] == "open")
    assert opened.note["to"] == {"telegram": ["1"]} and opened.note["escalation"]["level"] == 1
    at = stage.desk.alerts[opened.note["id"]]["at"]
    assert stage.tick(at + 59, {}) == []  # not before its delay
    up = [p for p in stage.tick(at + 61, {}) if p.measurement == "alert"]
    assert [(p.fields["event"], p.note["to"]) for p in up] == [("escalate", {"telegram": ["2"]})]
    assert [p for p in stage.tick(at + 500, {}) if p.measurement == "alert"] == []  # no level 3
    # restored into a new stage, the acknowledgement still stops it, and a second is refused
    again = _stage(60)
    again.restore(stage.state())
    ack = again.answer(ST, answer(act="ack", alert=opened.note["id"], note="ok"), now=at + 600)
    assert ack[0].fields["ack_by"] == "An" and ack[0].note["to"] == {"telegram": ["1", "2"]}
    redelivered = again.answer(ST, answer(act="ack", alert=opened.note["id"], note="ok"),
                               now=at + 700)  # QoS 1 may deliver it twice: the same point
    assert (redelivered[0].time, redelivered[0].fields) == (ack[0].time, ack[0].fields)
    with pytest.raises(desk.AnswerError, match="already acknowledged by An"):
        again.answer(ST, answer(act="ack", alert=opened.note["id"], t=T + 5), now=at + 601)
    with pytest.raises(desk.AnswerError, match="no such alert"):
        again.answer(ST, answer(act="ack", alert=f"{ST}/offline/{T}"), now=at + 601)


def test_calibration_silences_the_station_until_it_measures_again():
    from collector.contracts import Batch

    stage = _stage()
    cal = stage.process(Batch([], readings=[_error(T, status=1)])).points
    assert [(p.measurement, p.tags["source"], p.fields["until"]) for p in cal] == \
        [("maintenance", "calibration", 0)]
    out = stage.process(Batch([], readings=[_error(T + 60, status=0)])).points
    assert [(p.measurement, p.fields["until"]) for p in out] == [("maintenance", T + 60)]
    assert stage.desk.silence_at(ST, T + 61) is None


def test_a_backlog_in_one_batch_gets_its_calibration_window_and_its_alert_silenced():
    """Hours replayed at once (a station back from an outage): the window is found at record
    time, not from the batch's last reading, and an alert about data in it reaches nobody."""
    from collector.contracts import Batch

    stage = _stage()
    readings = [_error(T, 0), _error(T + 300, 1), _error(T + 900, 1), _error(T + 1500, 0)]
    # a device error on another sensor during the calibration, lasting the 10 minutes
    readings += [Reading(ST, "air", "so2", "ppb", t, 1.0, 2, 1, 30, 0, None, None, 0, None,
                         "b", t) for t in (T + 300, T + 900)]
    points = stage.process(Batch([], readings=readings)).points
    windows = [(p.time, p.fields["until"]) for p in points if p.measurement == "maintenance"]
    assert windows == [(T + 300, 0), (T + 300, T + 1500)]
    opened = [p for p in points if p.measurement == "alert"]
    assert [(p.tags["rule"], p.fields["silenced"]) for p in opened] == \
        [("sensor_error.so2", "calibration")]


def test_an_alert_open_before_the_desk_kept_records_can_be_acknowledged():
    from collector.contracts import Batch

    old = _stage()
    opened = [p for p in old.process(Batch([], readings=[_error(T), _error(T + 600)])).points
              if p.measurement == "alert"][0]
    saved = old.state()
    del saved["desk"]  # as an older collector saved it
    stage = _stage()
    stage.restore(saved)
    ack = stage.answer(ST, answer(act="ack", alert=opened.fields["id"], note="cũ"))
    assert (ack[0].fields["event"], ack[0].fields["ack_by"]) == ("ack", "An")
    assert ack[0].tags == {"station": ST, "rule": "sensor_error.co", "severity": "warning"}


def test_the_contact_chain_s_addresses_do_not_leave_for_the_e_government_endpoint():
    from zoneinfo import ZoneInfo

    from collector.contracts import Point
    from collector.egov.messages import alert_doc

    note = {"v": 1, "st": ST, "rule": "offline", "state": "open", "t": T, "event": "escalate",
            "id": f"{ST}/offline/{T}", "to": {"zalo": ["4567890123456789"]},
            "escalation": {"level": 2}}
    _key, doc = alert_doc(Point("alert", {"station": ST, "rule": "offline"}, {}, T, note=note),
                          "phu-quoc", "PQ01", ZoneInfo("Asia/Ho_Chi_Minh"))
    assert "to" not in doc["alert"] and doc["alert"]["escalation"] == {"level": 2}
