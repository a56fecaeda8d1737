"""Zalo Official Account and Telegram bot outputs against stand-ins of their HTTP APIs, real
servers on 127.0.0.1 (loopback_peers): Vietnamese text to every recipient through the durable
outbox; their documented error answers handled (Zalo's envelope -216 expired token and -32 call
limit; Telegram's 401, 429 with retry_after, 403 blocked); the token read from the secrets file
(a renewed one applies without a restart) and never in a log line or an error; a silenced
station's alert sent to nobody; an escalation sent to its level's contacts only."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from collector_live import wait_for
from loopback_peers import TelegramPeer, ZaloPeer

from collector.config import ConfigError, Settings
from collector.contracts import Point
from collector.dead_letters import read
from collector.delivery.alert_outputs import AlertOutputs
from collector.sinks.chat.telegram import TelegramSink
from collector.sinks.chat.zalo import ZaloSink

T = 1763755200
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ZALO_TOKEN = "zl-access-0f3c9a7d2b"
BOT_TOKEN = "123456:AAH-secret-bot-token"


def alert(event="open", n=0, **extra) -> Point:
    doc = {"v": 1, "st": "pq-air-01", "rule": "qcvn05.so2.1h", "state": "open", "t": T + n,
           "event": event, "id": f"pq-air-01/qcvn05.so2.1h/{T}", "severity": "warning",
           "value": 524.1, "limit": 350.0, "unit": "ug/Nm3",
           "text_vi": "Trạm Dương Đông: SO2 trung bình 1 giờ là 524.1 µg/Nm³, vượt giới hạn "
                      "350 µg/Nm³ (QCVN 05:2023/BTNMT)",
           "text_en": "Duong Dong: 1-hour mean SO2 is 524.1 µg/Nm³, above the limit", **extra}
    return Point("alert", {"station": "pq-air-01", "rule": "qcvn05.so2.1h",
                           "severity": "warning"}, {"state": "open"}, T + n, note=doc)


def secrets(tmp_path: Path, **tokens: str) -> Path:
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(tokens))
    path.chmod(0o600)
    return path


@pytest.fixture
def zalo():
    peer = ZaloPeer(ZALO_TOKEN)
    yield peer
    peer.close()


@pytest.fixture
def telegram():
    peer = TelegramPeer(BOT_TOKEN)
    yield peer
    peer.close()


def test_alerts_reach_zalo_and_telegram_in_vietnamese_through_the_outbox(zalo, telegram,
                                                                        tmp_path):
    path = secrets(tmp_path, zalo_access_token=ZALO_TOKEN, telegram_bot_token=BOT_TOKEN)
    sinks = {"zalo": ZaloSink(zalo.url, ("4567890123456789", "5678901234567890"), path,
                              tz=TZ),
             "telegram": TelegramSink(telegram.url, ("-1001234567",), path, tz=TZ)}
    out = AlertOutputs(sinks, tmp_path / "adl.jsonl", retry_initial_s=0.05,
                       outbox_dir=tmp_path / "outbox")
    out.start()
    try:
        out.send([alert()])
        wait_for(lambda: len(zalo.messages) == 2 and len(telegram.messages) == 1,
                 "both chat services")
    finally:
        out.stop(5)
    for text in (*zalo.to("4567890123456789"), *zalo.to("5678901234567890"),
                 *telegram.to("-1001234567")):
        assert text.startswith("[Quantrac] Cảnh báo: pq-air-01 qcvn05.so2.1h\n")
        assert "vượt giới hạn 350 µg/Nm³" in text
        assert "Lúc: 03:00 22/11/2025" in text  # the registry's local time
        assert f"quantrac alerts ack pq-air-01/qcvn05.so2.1h/{T}" in text
    assert (tmp_path / "outbox").is_dir()


def test_an_expired_zalo_token_keeps_the_alert_until_a_new_one_is_in_the_secrets_file(
        zalo, tmp_path, caplog):
    path = secrets(tmp_path, zalo_access_token="zl-expired-77aa")
    sink = ZaloSink(zalo.url, ("4567890123456789",), path, tz=TZ)
    out = AlertOutputs({"zalo": sink}, tmp_path / "adl.jsonl", retry_initial_s=0.05,
                       retry_max_s=0.2, outbox_dir=tmp_path / "outbox")
    caplog.set_level(logging.DEBUG)
    out.start()
    try:
        out.send([alert()])
        wait_for(lambda: "-216" in (out.stats()["zalo"]["last_error"] or ""),
                 "the expired token reported")
        assert out.stats()["zalo"]["waiting"] == 1 and not zalo.messages
        assert str(path) in out.stats()["zalo"]["last_error"]  # where to put the new one
        secrets(tmp_path, zalo_access_token=ZALO_TOKEN)  # the operator renews it
        wait_for(lambda: zalo.to("4567890123456789"), "the alert after the renewal")
    finally:
        out.stop(5)
    assert len(zalo.messages) == 1
    assert "zl-expired-77aa" in zalo.tokens  # it was presented, then never shown anywhere
    assert "zl-expired-77aa" not in caplog.text and ZALO_TOKEN not in caplog.text
    assert not read(tmp_path / "adl.jsonl")


def test_zalo_call_limit_waits_a_minute_and_a_non_follower_is_refused(zalo, tmp_path):
    path = secrets(tmp_path, zalo_access_token=ZALO_TOKEN)
    sink = ZaloSink(zalo.url, ("4567890123456789", "999"), path, tz=TZ)
    zalo.script = ["rate"]
    first = sink.write([alert()])
    assert (first.accepted, first.rejected, first.retry_after) == ([], [], 60.0)
    assert "Zalo error -32" in first.error and not first.operator
    zalo.script = ["not_follower"]  # the second user; the first already has it
    second = sink.write([alert()])
    assert second.rejected and "zalo 4567890123456789: " in second.rejected[0][1]
    assert "-213" in second.rejected[0][1]
    assert zalo.to("999") and zalo.to("4567890123456789") == []  # sent once to 999 only
    zalo.script = ["echo"]
    quoted = sink.write([alert(n=1)])
    assert quoted.rejected and "invalid parameter near ***" in quoted.rejected[0][1]
    assert ZALO_TOKEN not in quoted.rejected[0][1]


def test_telegram_answers_401_429_and_403_as_documented(telegram, tmp_path):
    path = secrets(tmp_path, telegram_bot_token=BOT_TOKEN)
    sink = TelegramSink(telegram.url, ("-1001234567",), path, tz=TZ)
    telegram.script = ["rate"]
    telegram.retry_after = 7
    limited = sink.write([alert()])
    assert (limited.retry_after, limited.operator) == (7.0, False)
    assert "Too Many Requests" in limited.error
    telegram.script = ["unauthorized"]
    revoked = sink.write([alert()])
    assert revoked.operator and "401" in revoked.error and str(path) in revoked.error
    telegram.script = ["blocked"]
    blocked = sink.write([alert()])
    assert blocked.rejected and "bot was blocked by the user" in blocked.rejected[0][1]
    for r in (limited, revoked, blocked):  # the token is in the URL: never in what is shown
        assert BOT_TOKEN not in r.error + "".join(why for _, why in r.rejected)
        assert "bot***/sendMessage" in r.error + "".join(why for _, why in r.rejected)
    assert sink.write([alert(n=1)]).accepted == [0]
    assert len(telegram.to("-1001234567")) == 1


def test_an_api_that_is_not_there_keeps_the_alert_for_everyone(zalo, telegram, tmp_path):
    """A 404 says the address (or a Telegram token that is no bot token) is wrong, not the
    recipient: the alert waits for the operator instead of going to the dead letters for each
    recipient in turn."""
    path = secrets(tmp_path, zalo_access_token=ZALO_TOKEN, telegram_bot_token="AAH-no-bot-id")
    cases = [(ZaloSink(zalo.url + "/v2", ("4567890123456789",), path, tz=TZ), "zalo_api_url"),
             (TelegramSink(telegram.url, ("-1001234567",), path, tz=TZ), "telegram_bot_token"),
             (TelegramSink(telegram.url + "/v2", ("-1001234567",), path, tz=TZ),
              "telegram_api_url")]
    for sink, named in cases:
        got = sink.write([alert()])
        assert (got.accepted, got.rejected, got.operator) == ([], [], True), got
        assert "404" in got.error and named in got.error
        assert "AAH-no-bot-id" not in got.error
    assert not zalo.messages and not telegram.messages


def test_a_silenced_alert_reaches_no_chat_and_an_escalation_only_its_level(zalo, telegram,
                                                                           tmp_path):
    path = secrets(tmp_path, zalo_access_token=ZALO_TOKEN, telegram_bot_token=BOT_TOKEN)
    z = ZaloSink(zalo.url, ("111",), path, tz=TZ)
    tg = TelegramSink(telegram.url, ("-100",), path, tz=TZ)
    silenced = alert(silenced={"reason": "bảo trì", "by": "An", "source": "operator"})
    escalated = alert(event="escalate", n=1800, escalation={"level": 2},
                      to={"telegram": ["-200"], "zalo": ["222"]})
    for sink in (z, tg):
        assert sink.write([silenced, escalated]).accepted == [0, 1]
    assert [r for r, _ in zalo.messages] == ["222"]
    assert [r for r, _ in telegram.messages] == ["-200"]
    assert telegram.messages[0][1].startswith("[Quantrac] Chuyển cấp: pq-air-01")


ENV = {"QUANTRAC_MQTT_HOST": "127.0.0.1", "QUANTRAC_MQTT_PORT": "1883",
       "QUANTRAC_MQTT_COLLECTOR_USER": "c", "QUANTRAC_MQTT_COLLECTOR_PASSWORD": "p",
       "QUANTRAC_INFLUX_URL": "http://127.0.0.1:8086",
       "QUANTRAC_INFLUX_WRITE_URL": "http://127.0.0.1:8086", "QUANTRAC_INFLUX_DB": "q",
       "QUANTRAC_INFLUX_WRITE_USER": "w", "QUANTRAC_INFLUX_WRITE_PASSWORD": "p"}


@pytest.mark.parametrize("chat, write, error", [
    ({"zalo": True}, None, "has no zalo_access_token"),
    ({"telegram": True, "telegram_api_url": "http://api.telegram.example"},
     {"telegram_bot_token": "x"}, "plain http would send the token in clear text"),
    ({"zalo": True}, {"zalo_access_token": "x", "mode": "644"}, "readable by others"),
    # refused by the service at every alert, each into the dead letters
    ({"telegram": True, "telegram_to": ["tp-ops"]}, {"telegram_bot_token": "x"},
     "telegram_to: 'tp-ops' is not a telegram user or chat id"),
    ({"zalo": True, "zalo_to": ["0901 234 567"]}, {"zalo_access_token": "x"},
     "zalo_to: '0901 234 567' is not a zalo user or chat id"),
])
def test_a_chat_output_that_could_never_deliver_is_refused_at_load(tmp_path, chat, write,
                                                                   error):
    if write is not None:
        mode = int(write.pop("mode", "600"), 8)
        (tmp_path / "secrets").mkdir()
        p = tmp_path / "secrets" / "chat.json"
        p.write_text(json.dumps(write))
        p.chmod(mode)
    with pytest.raises(ConfigError) as e:
        Settings.from_env(ENV, tmp_path, {"sinks": {"chat": chat}})
    assert error in str(e.value) and "secret-bot" not in str(e.value)

