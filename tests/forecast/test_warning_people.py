"""A forecast warning reaches people through the collector's configured outputs (issue 20,
"Early warning"): `forecast serve` with the collector's options file sends each warning it
opens, and its close, to the webhook and the e-mail receiver (real local servers) besides its
retained MQTT topic, each message plainly a forecast with its lead time, day, expected index
and range, confidence and the band's health message; a receiver that refuses leaves a dead
letter under the warning's topic; with no options file, the retained topic only."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from forecast_peers import Peer, SmtpReceiver
from forecast_peers import write_hourly_pm25 as _write

from collector.config import load
from collector.dead_letters import read
from collector.sinks.chat.text import message as chat_message
from forecast import service
from forecast.forecaster import Forecaster, StationForecast
from forecast.outputs import warning_outputs
from forecast.warning import Warnings, load_rules
from quantrac.cli import main

pytestmark = pytest.mark.services

GENERAL = {"forecast.vn_aqi.24h", "forecast.vn_aqi.48h"}  # severity warning: sent to people


def _config(path: Path, webhook: str, smtp_port: int | None = None) -> Path:
    lines = ["[sinks.notify]", f'webhook_url = "{webhook}"',
             "retry_initial_s = 0.1", "retry_max_s = 0.5"]
    if smtp_port:
        lines += ['smtp_host = "127.0.0.1"', f"smtp_port = {smtp_port}",
                  'smtp_to = ["air@donre.example"]']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _clear_retained(env: dict, station: str) -> None:
    """The session's broker is shared: leave no retained warning behind."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    c.username_pw_set(env["QUANTRAC_MQTT_FORECAST_USER"], env["QUANTRAC_MQTT_FORECAST_PASSWORD"])
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    try:
        c.publish(f"quantrac/v1/alerts/{station}/forecast", b"", qos=1,
                  retain=True).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def _wait(what, n: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while len(what()) < n:
        assert time.monotonic() < deadline, what()
        time.sleep(0.05)


def test_a_pass_sends_its_warning_and_the_close_to_the_webhook_and_e_mail(
        services, session_run_dir, tmp_path):
    env, st = services, "fc-people-01"
    hook, smtp = Peer(), SmtpReceiver()
    try:
        settings = load(session_run_dir, _config(tmp_path / "quantrac.toml",
                                                 hook.url + "/alerts", smtp.port))
        # 10 days at 150 µg/m³ (the forecaster falls back to persistence: no training), one
        # hour ahead too in case the clock's hour turns before the pass
        now = int(time.time()) // 3600 * 3600
        t = np.arange(now - 10 * 86400 + 3600, now + 3601, 3600)
        _write(env, st, t, np.full(len(t), 150.0))

        # the production forecaster, as `forecast serve --config` runs it: its pass at start
        stop = threading.Event()
        serving = threading.Thread(target=service.serve,
                                   args=(env, tmp_path, stop, [st], None, settings))
        serving.start()
        try:
            _wait(lambda: hook.posts, 2)
            _wait(lambda: smtp.messages, 2)
        finally:
            stop.set()
            serving.join()
        warned = {b["rule"]: b for b in hook.posts}
        assert set(warned) == GENERAL, hook.posts  # the sensitive groups' are `info`
        for b in warned.values():
            assert b["forecast"] is True and b["event"] == "warn" and b["state"] == "warning"
            assert b["st"] == st and b["value"] >= 151 and b["limit"] == 151
            assert isinstance(b["lead_h"], int) and 0 <= b["lead_h"] < 24
            assert b["confidence"] in ("medium", "high")
            health = b["advice"]["health"]
            assert health["en"] and health["en"] in b["text_en"]
            assert health["vi"] and health["vi"] in b["text_vi"]
            assert b["text_en"].startswith(f"{st}: Forecast (not a measurement): daily VN_AQI "
                                           f"on {b['day']} about {b['value']} "
                                           f"({b['interval'][0]}–{b['interval'][1]})")
            assert f"in {b['lead_h']} h; confidence {b['confidence']}" in b["text_en"]
            assert b["text_vi"].startswith(f"{st}: Dự báo (không phải số đo): VN_AQI ngày "
                                           f"{b['day']}")
        mails = {m["Subject"].split()[-1]: m for m in smtp.messages}
        assert set(mails) == GENERAL
        for rule, m in mails.items():
            b, text = warned[rule], mails[rule].get_content()
            assert m["Subject"] == (f"[Quantrac] Cảnh báo sớm (dự báo, không phải số đo) / "
                                    f"Early warning (forecast, not a measurement): {st} {rule}")
            assert b["text_vi"] in text and b["text_en"] in text
            assert f"day: {b['day']}" in text and f"lead_h: {b['lead_h']}" in text
            assert f"confidence: {b['confidence']}" in text

        # two days later the air is clean; the forecaster, restarted with its state, closes
        # both warnings, and the close reaches the webhook and e-mail too
        later = now + 2 * 86400
        t2 = np.arange(now + 2 * 3600, later + 3601, 3600)
        _write(env, st, t2, np.full(len(t2), 10.0))
        state = tmp_path / "forecast"
        outputs = warning_outputs(env, state / "dead-letters.jsonl", settings,
                                  outbox_dir=state / "alert-outbox")
        outputs.start()
        try:
            res = service.run_pass(env, [st], Forecaster(),
                                   Warnings(load_rules(), state / "warnings.json"), later,
                                   send=outputs.send)
            assert {p.fields["event"] for p in res.warnings} == {"close"}, res.warnings
            _wait(lambda: hook.posts, 4)
            _wait(lambda: smtp.messages, 4)
        finally:
            outputs.stop()
        closed = {b["rule"]: b for b in hook.posts[2:]}
        assert set(closed) == GENERAL
        for rule, b in closed.items():
            assert b["forecast"] is True and b["event"] == "close" and b["state"] == "closed"
            assert b["id"] == warned[rule]["id"]
            assert b["text_en"].startswith(f"{st}: Forecast (not a measurement): warning over")
        assert sorted(m["Subject"] for m in smtp.messages[2:]) == sorted(
            f"[Quantrac] Hết cảnh báo sớm (dự báo, không phải số đo) / Early warning over "
            f"(forecast, not a measurement): {st} {rule}" for rule in GENERAL)
        assert not read(state / "dead-letters.jsonl")
    finally:
        hook.close()
        smtp.close()
        _clear_retained(env, st)


def _warnings(station: str, tmp_path: Path) -> list:
    now = 1_790_000_000 - 1_790_000_000 % 3600
    fc = StationForecast(station, now, aqi_daily=[(now + 20 * 3600, 180, 160, 200)])
    return Warnings(load_rules(), tmp_path / "w.json").judge(fc)


def test_a_refusing_webhook_leaves_dead_letters_under_the_warnings_topic_and_no_config_is_mqtt_only(
        services, session_run_dir, tmp_path):
    env, st = services, "fc-people-02"
    assert warning_outputs(env, tmp_path / "d.jsonl").names == ["mqtt_alerts"]
    plain = tmp_path / "plain.toml"
    plain.write_text("[sinks.notify]\nmin_severity = \"info\"\n", encoding="utf-8")
    assert warning_outputs(env, tmp_path / "d.jsonl", load(session_run_dir, plain)
                           ).names == ["mqtt_alerts"]

    hook = Peer(post_status=422)
    settings = load(session_run_dir, _config(tmp_path / "q.toml", hook.url + "/alerts"))
    outputs = warning_outputs(env, tmp_path / "dead.jsonl", settings,
                              outbox_dir=tmp_path / "outbox")
    assert outputs.names == ["mqtt_alerts", "webhook"]
    outputs.start()
    try:
        outputs.send(_warnings(st, tmp_path))
        _wait(lambda: read(tmp_path / "dead.jsonl"), 2)
    finally:
        outputs.stop()
        hook.close()
        _clear_retained(env, st)
    dead = read(tmp_path / "dead.jsonl")
    assert {(d["alert"]["rule"], d["topic"], d["class"]) for d in dead} == {
        (r, f"quantrac/v1/alerts/{st}/forecast", "webhook") for r in GENERAL}
    assert all("HTTP 422" in d["reason"] and d["alert"]["forecast"] is True for d in dead)


def test_serve_refuses_a_config_it_cannot_use_before_serving(session_run_dir, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[sinks.notify]\nsmtp_host = "127.0.0.1"\nsmtp_to = ["a@b.example"]\n'
                   'smtp_user = "air"\n', encoding="utf-8")
    cli = CliRunner()
    base = ["forecast", "serve", "--run-dir", str(session_run_dir)]
    r = cli.invoke(main, [*base, "--config", str(bad)])
    assert r.exit_code == 1 and "smtp_user = 'air'" in r.output \
        and "clear text" in r.output, r.output
    r = cli.invoke(main, [*base, "--config", str(tmp_path / "none.toml")])
    assert r.exit_code == 1 and "none.toml: no such file" in r.output, r.output


def test_a_warnings_chat_text_says_forecast_day_range_lead_time_and_health(tmp_path):
    warn = next(p.note for p in _warnings("fc-people-03", tmp_path)
                if p.tags["rule"] == "forecast.vn_aqi.24h")
    text = chat_message(warn, None)
    assert text.startswith("[Quantrac] Cảnh báo sớm (dự báo, không phải số đo): fc-people-03 "
                           "forecast.vn_aqi.24h\n")
    assert warn["text_vi"] in text and warn["text_en"] in text
    assert f"về {warn['day']}" not in text  # (the texts carry the day as written below)
    assert f"VN_AQI ngày {warn['day']} khoảng 180 (160–200)" in text
    assert f"in {warn['lead_h']} h" in text and warn["advice"]["health"]["vi"] in text
    assert "Xác nhận" not in text  # a forecast is not acknowledged like a measured alert
