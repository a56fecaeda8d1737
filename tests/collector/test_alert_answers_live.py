"""Alerts people answer, on the real stack (the session's Mosquitto and InfluxDB, the collector,
`quantrac alerts` as the operator, Telegram and Zalo stand-ins on 127.0.0.1): an alert nobody
acknowledges escalates once to the next level after the delay; one acknowledged in time does
not; a silenced station's alerts (planned, or its own calibration mode) reach nobody and are
stored as silenced; an acknowledgement survives a collector restart.

Each alert is a device error (status 02) lasting 10 minutes of record time (rule
`sensor_error.do`, severity warning); the chain is short (`escalate_after_s` 3 s, ticks every
0.2 s), so the delay is real time, honestly waited for."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from click.testing import CliRunner
from collector_live import influxql, message, publish, unique_time, wait_for
from loopback_peers import TelegramPeer, Webhook, ZaloPeer

from collector.config import Settings
from quantrac.cli import main

pytestmark = pytest.mark.services
AFTER_S = 3.0
TOKEN = "123456:AAH-live-test-token"
ZALO_TOKEN = "zl-live-token-5e1f"
OWN, LEVEL1, LEVEL2, ZALO2 = "-900", "-101", "-202", "2020202020"


@pytest.fixture
def chat():
    tg, zl, hook = TelegramPeer(TOKEN), ZaloPeer(ZALO_TOKEN), Webhook()
    yield tg, zl, hook
    for peer in (tg, zl, hook):
        peer.close()


def settings(env: dict, run_dir, chat, client_id: str | None = None) -> Settings:
    tg, zl, hook = chat
    (run_dir / "secrets").mkdir(exist_ok=True)
    secrets = run_dir / "secrets" / "chat.json"
    secrets.write_text(json.dumps({"telegram_bot_token": TOKEN, "zalo_access_token": ZALO_TOKEN}))
    secrets.chmod(0o600)
    return Settings.from_env(env, run_dir, {
        "sources": {"mqtt": {"client_id": client_id or f"test-answers-{uuid.uuid4().hex[:8]}"}},
        "sinks": {"influxdb": {"retry_initial_s": 0.1, "retry_max_s": 1.0},
                  "notify": {"webhook_url": hook.url, "retry_initial_s": 0.1,
                             "retry_max_s": 0.5},
                  "chat": {"telegram": True, "telegram_api_url": tg.url,
                           "telegram_to": [OWN], "zalo": True, "zalo_api_url": zl.url}},
        "processors": {"alerts": {"tick_s": 0.5, "escalate": ["warning"],
                                  "escalate_after_s": AFTER_S,
                                  "contacts": [f"1 telegram:{LEVEL1}",
                                               f"2 telegram:{LEVEL2} zalo:{ZALO2}"]}}})


def device_error(env: dict, station: str, status: int = 2, cal: bool = False) -> str:
    """A device error (status 02) lasting 10 minutes of record time: the sensor_error alert
    opens. With `cal`, the station is calibrating its pH meanwhile (status 01)."""
    t = unique_time() // 60 * 60
    extra = {"ph": [7.0, "pH", 1, 30, 0]} if cal else {}
    publish(env, station, [message(station, t, do=[6.5, "mg/L", status, 30, 0], **extra),
                           message(station, t + 600, do=[6.5, "mg/L", status, 30, 0],
                                   **extra)])
    return f"{station}/sensor_error.do/{t + 600}"


def alert_rows(env: dict, station: str, alert_id: str) -> list[dict]:
    return influxql(env, f"SELECT * FROM derived.alert WHERE station = '{station}' "
                         f"AND id = '{alert_id}'")


def cli(session_run_dir, *args: str):
    result = CliRunner().invoke(main, [*args, "--run-dir", str(session_run_dir)])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_alert_nobody_acknowledges_escalates_once_to_the_next_level(
        services, collectors, chat, tmp_path):
    env, (tg, zl, hook) = services, chat
    collectors(settings(env, tmp_path, chat))
    published = int(time.time())  # the alert cannot open before this
    alert_id = device_error(env, "pq-tap-02")
    wait_for(lambda: any(alert_id.split("/")[0] in m for m in tg.to(LEVEL1)),
             "the open alert at level 1")
    wait_for(lambda: tg.to(LEVEL2), "the escalation to level 2", timeout=AFTER_S + 30)
    time.sleep(3 * AFTER_S)  # three more delays: there is no level 3, nothing more goes out
    assert len(tg.to(LEVEL2)) == 1 and len(zl.to(ZALO2)) == 1
    assert len(tg.to(OWN)) == 1 and len(tg.to(LEVEL1)) == 1  # the open, at the start
    assert tg.to(LEVEL2)[0].startswith("[Quantrac] Chuyển cấp: pq-tap-02 sensor_error.do\n")
    assert "Chuyển cấp 2: chưa ai xác nhận sau 3 giây" in tg.to(LEVEL2)[0]
    assert not any("Chuyển cấp" in m for m in tg.to(LEVEL1) + tg.to(OWN))
    rows = alert_rows(env, "pq-tap-02", alert_id)
    assert sorted(r["event"] for r in rows) == ["escalate", "open"]
    up = next(r for r in rows if r["event"] == "escalate")
    assert up["level"] == 2
    assert up["time"] >= published + AFTER_S - 1  # not before its delay (stored in seconds)
    escalated = [b for b in hook.bodies if b.get("event") == "escalate"]
    assert escalated == []  # the webhook is no level-2 contact


def test_an_alert_acknowledged_in_time_does_not_escalate(services, collectors, chat, tmp_path,
                                                        session_run_dir):
    env, (tg, zl, hook) = services, chat
    collectors(settings(env, tmp_path, chat))
    alert_id = device_error(env, "pq-tap-04")
    wait_for(lambda: any(b.get("id") == alert_id for b in hook.bodies), "the open alert")
    out = cli(session_run_dir, "alerts", "ack", alert_id, "--note", "đã gọi trạm",
              "--by", "Nguyễn Văn An")
    assert f"{alert_id} acknowledged by Nguyễn Văn An" in out
    listed = cli(session_run_dir, "alerts", "list", "--station", "pq-tap-04")
    assert f"{alert_id}  since" in listed and "acknowledged by Nguyễn Văn An" in listed
    time.sleep(3 * AFTER_S)  # well past the delay
    assert not tg.to(LEVEL2) and not zl.messages
    acked = [m for m in tg.to(LEVEL1) if m.startswith("[Quantrac] Đã xác nhận")]
    assert len(acked) == 1 and "Nguyễn Văn An đã xác nhận" in acked[0]
    rows = {r["event"]: r for r in alert_rows(env, "pq-tap-04", alert_id)}
    assert set(rows) == {"open", "ack"}
    assert (rows["ack"]["ack_by"], rows["ack"]["ack_note"]) == ("Nguyễn Văn An", "đã gọi trạm")
    # a second acknowledgement is refused with the reason, kept in the dead letters
    CliRunner().invoke(main, ["alerts", "ack", alert_id, "--note", "again", "--wait", "1",
                              "--run-dir", str(session_run_dir)])
    dead = tmp_path / "collector" / "dead-letters.jsonl"
    wait_for(lambda: dead.exists() and "already acknowledged by Nguyễn Văn An"
             in dead.read_text(), "the second ack refused")


def test_a_silenced_station_reaches_nobody_and_its_alerts_are_stored_silenced(
        services, collectors, chat, tmp_path, session_run_dir):
    env, (tg, zl, hook) = services, chat
    collectors(settings(env, tmp_path, chat))
    out = cli(session_run_dir, "alerts", "silence", "pq-ww-04", "--until", "1h",
              "--reason", "bảo trì định kỳ", "--by", "Trần Thị Bình")
    assert "pq-ww-04 silenced from" in out
    wait_for(lambda: influxql(env, "SELECT * FROM derived.maintenance WHERE "
                                   "station = 'pq-ww-04' AND source = 'operator' AND "
                                   "reason = 'bảo trì định kỳ'"), "the maintenance window")
    planned = device_error(env, "pq-ww-04")
    calibrating = device_error(env, "pq-ww-03", cal=True)  # its own maintenance: status 01
    for station, alert_id, source in (("pq-ww-04", planned, "operator"),
                                      ("pq-ww-03", calibrating, "calibration")):
        wait_for(lambda s=station, a=alert_id: alert_rows(env, s, a), f"{station}'s alert")
        assert alert_rows(env, station, alert_id)[0]["silenced"] == source
    # a sentinel alert of a station not silenced: the outbox delivers in order, so the
    # silenced ones had their turn before it
    sentinel = device_error(env, "pq-tap-03")
    wait_for(lambda: any(b.get("id") == sentinel for b in hook.bodies)
             and any("pq-tap-03" in m for m in tg.to(LEVEL1)), "the sentinel alert")
    time.sleep(2 * AFTER_S)  # and past the escalation delay
    everything = [m for chat_id in (OWN, LEVEL1, LEVEL2) for m in tg.to(chat_id)]
    everything += [m for _, m in zl.messages] + [json.dumps(b) for b in hook.bodies]
    assert not [m for m in everything if "pq-ww-04" in m or "pq-ww-03" in m]
    assert influxql(env, "SELECT * FROM derived.maintenance WHERE station = 'pq-ww-03' AND "
                         "source = 'calibration'")


def test_an_acknowledgement_survives_a_collector_restart(services, collectors, chat, tmp_path,
                                                        session_run_dir):
    env, (tg, _zl, hook) = services, chat
    client_id = f"test-answers-{uuid.uuid4().hex[:8]}"
    first = collectors(settings(env, tmp_path, chat, client_id))
    alert_id = device_error(env, "pq-tap-01")
    wait_for(lambda: any(b.get("id") == alert_id for b in hook.bodies), "the open alert")
    cli(session_run_dir, "alerts", "ack", alert_id, "--note", "thay cảm biến DO",
        "--by", "Lê Văn Cường")
    # kept on disk before the broker had its PUBACK, not only at a clean stop (a crash now
    # loses nothing)
    saved = json.loads((tmp_path / "collector" / "state.json").read_text())
    assert saved["alerts"]["desk"]["alerts"][alert_id]["ack"]["by"] == "Lê Văn Cường"
    first.stop()
    collectors(settings(env, tmp_path, chat, client_id))  # the same data folder and session
    time.sleep(2 * AFTER_S)  # the restarted collector would escalate it now had it forgotten
    assert not tg.to(LEVEL2)
    # the device recovers: the close carries who acknowledged it, from the restored state
    t = int(alert_id.rsplit("/", 1)[1]) + 300
    publish(env, "pq-tap-01", [message("pq-tap-01", t, do=[6.5, "mg/L", 0, 30, 0])])
    wait_for(lambda: any(b.get("id") == alert_id and b.get("event") == "close"
                         for b in hook.bodies), "the recovery")
    closed = next(b for b in hook.bodies if b.get("id") == alert_id and b["event"] == "close")
    assert closed["ack"]["by"] == "Lê Văn Cường" and closed["ack"]["note"] == "thay cảm biến DO"
