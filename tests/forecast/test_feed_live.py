"""The external forecast feed wired into the forecaster, on the real stack: the station's means
in the session's InfluxDB, the feed from a real HTTP server on this machine (nothing outside
can be reached) answering in the public API's format (Open-Meteo's hourly arrays: the
recorded answer of tests/forecast/data, and a generated 100-day one in the same shape).

A station whose episodes come at irregular times cannot foresee the next one from its own
history; a feed that forecasts them must make its forecast better, or the feed is not used."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from forecast_peers import Peer
from forecast_peers import write_hourly_pm25 as _write

from forecast.feed import FeedConfig, FeedError
from forecast.forecaster import Forecaster, ForecasterSettings
from forecast.model import ModelSettings
from forecast.service import run_pass
from forecast.warning import Warnings, load_rules
from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]

RECORDED = (Path(__file__).parent / "data" / "feed_air_quality.json").read_bytes()
NOW = int(datetime(2026, 3, 1, 5, tzinfo=UTC).timestamp())  # the recorded answer's issue
DAYS = 100
SMALL = ForecasterSettings(model=ModelSettings(trees=100, quantile_trees=50, max_rows=60_000))
FED, SHORT, BROKEN = "fc-feed-01", "fc-feed-rec-01", "fc-feed-404-01"


def _truth(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(end-of-hour times, µg/m³) from DAYS before NOW to NOW + 4 days: a calm 25 with
    episodes at random times (one every ~4 days, 40-120 high, 8-20 h wide), one of them
    peaking 30 h after NOW, none in the day before NOW."""
    rng = np.random.default_rng(seed)
    t = np.arange(NOW - DAYS * 86400 + 3600, NOW + 4 * 86400 + 1, 3600)
    centres = [c for c in np.cumsum(rng.exponential(4 * 86400, 40)) + t[0]
               if not NOW - 2 * 86400 < c < NOW + 2 * 86400]
    centres.append(NOW + 30 * 3600)
    y = np.full(len(t), 25.0)
    for c in centres:
        y += rng.uniform(40, 120) * np.exp(-(((t - c) / (rng.uniform(8, 20) * 3600)) ** 2))
    return t, y * np.exp(rng.normal(0, 0.08, len(t)))


def _answer(t: np.ndarray, values: dict[str, np.ndarray], offset_s: int = 7 * 3600) -> bytes:
    """An answer in the public API's shape: local times of `utc_offset_seconds`."""
    local = [(datetime.fromtimestamp(int(x), UTC) + timedelta(seconds=offset_s))
             .strftime("%Y-%m-%dT%H:%M") for x in t]
    return json.dumps({"latitude": 10.25, "longitude": 103.95, "utc_offset_seconds": offset_s,
                       "timezone": "Asia/Bangkok", "hourly_units": {"time": "iso8601"},
                       "hourly": {"time": local, **{k: [round(float(x), 1) for x in v]
                                                    for k, v in values.items()}}}).encode()


@pytest.fixture(scope="module")
def fed(services) -> Iterator[tuple[dict, Peer, np.ndarray, np.ndarray]]:
    """FED's history up to NOW in InfluxDB; the feed server: FED's generated answer (the
    truth as a good forecast would give it: within ~8 %, past days and 4 days ahead), the
    recorded answer for SHORT (10 days of history), nothing for BROKEN (404)."""
    t, y = _truth(seed=5)
    past = t <= NOW
    _write(services, FED, t[past], y[past])
    for st in (SHORT, BROKEN):
        _write(services, st, t[past][-240:], y[past][-240:])
    forecast = y * np.exp(np.random.default_rng(6).normal(0, 0.08, len(y)))
    peer = Peer({f"/feed/{FED}": _answer(t, {"pm2_5": forecast}),
                 f"/feed/{SHORT}": RECORDED})
    try:
        yield services, peer, t, y
    finally:
        peer.close()


def test_a_feed_that_foresees_the_episodes_makes_the_forecast_better(fed, tmp_path):
    env, peer, t, y = fed
    truth = y[(t > NOW) & (t <= NOW + 72 * 3600)]
    feed = FeedConfig.of(peer.url + "/feed/{station}", "pm2_5")
    plain = run_pass(env, [FED], Forecaster(SMALL), Warnings(load_rules(), tmp_path / "a.json"),
                     NOW)
    fed_ = run_pass(env, [FED], Forecaster(SMALL), Warnings(load_rules(), tmp_path / "b.json"),
                    NOW, feed=feed)
    assert plain.errors == {} and fed_.errors == {} and fed_.feed_errors == {}
    assert f"/feed/{FED}" in peer.requests
    without, with_ = plain.forecasts[FED].params["pm2_5"], fed_.forecasts[FED].params["pm2_5"]
    assert with_.model == "gbm", with_.note
    assert "external feed ahead: pm2_5 72/72 h" in with_.note
    mae = {k: float(np.mean(np.abs(f.values[:, 0] - truth)))
           for k, f in (("without", without), ("with", with_))}
    # the episode 30 h ahead: only the feed saw it coming
    assert mae["with"] < 0.6 * mae["without"], mae
    peak = int(np.argmax(truth))
    assert abs(with_.values[peak, 0] - truth[peak]) < 0.3 * truth[peak], \
        (with_.values[peak], truth[peak])


def test_the_recorded_answer_is_the_forecasts_input_and_a_failed_feed_forecasts_without(
        fed, tmp_path):
    env, peer, _t, _y = fed
    feed = FeedConfig.of(peer.url + "/feed/{station}?apikey=S3CRET", ("pm2_5", "pm10"))
    res = run_pass(env, [SHORT, BROKEN], Forecaster(SMALL),
                   Warnings(load_rules(), tmp_path / "w.json"), NOW, feed=feed)
    assert res.errors == {}
    # the recorded answer: 4 hours of PM2.5 ahead, PM10 with one null (a missing hour)
    note = res.forecasts[SHORT].params["pm2_5"].note
    assert note.endswith("external feed ahead: pm2_5 4/72 h, pm10 3/72 h"), note
    assert set(res.feed_errors) == {BROKEN} and "answered 404" in res.feed_errors[BROKEN]
    # the error names the feed (it goes to the log) but not its query, where the key is
    assert f"/feed/{BROKEN}?…: answered 404" in res.feed_errors[BROKEN]
    assert "S3CRET" not in res.feed_errors[BROKEN]
    broken = res.forecasts[BROKEN].params["pm2_5"]
    assert broken.model == "persistence" and not np.isnan(broken.values).any()
    assert broken.note.endswith("external feed ahead: pm2_5 0/72 h, pm10 0/72 h")


def test_forecast_run_takes_the_feed_and_names_a_bad_one(fed, session_run_dir):
    _env, peer, _t, _y = fed
    args = ["forecast", "run", "--at", str(NOW), "--run-dir", str(session_run_dir)]
    r = CliRunner().invoke(main, [*args, "--station", SHORT, "--feed-url",
                                  peer.url + "/feed/{station}"])
    assert r.exit_code == 0, r.output
    assert "external feed ahead: pm2_5 4/72 h, pm10 3/72 h" in r.output
    r = CliRunner().invoke(main, [*args, "--station", BROKEN, "--feed-url",
                                  peer.url + "/feed/{station}", "--feed-vars", "pm2_5"])
    assert r.exit_code == 0 and "external feed unavailable, forecast without it" in r.output
    for url, says in (("http://feed.example.org/v1?key=k", "'http://feed.example.org/v1?…': "
                       "plain http would send"),
                      (peer.url + "/feed/{site}", "it may name only {station}, {lat}, {lon}")):
        r = CliRunner().invoke(main, [*args, "--station", SHORT, "--feed-url", url])
        assert r.exit_code == 2 and says in r.output, r.output


def test_a_feed_url_template_takes_the_registrys_coordinates():
    cfg = FeedConfig.of("https://air.example.org/v1/air-quality?latitude={lat}&longitude={lon}"
                        "&hourly=pm2_5", "pm2_5")
    import boards

    st = boards.registry().get("pq-air-01")
    assert cfg.url_for("pq-air-01").endswith(f"latitude={st.lat}&longitude={st.lon}"
                                             "&hourly=pm2_5")
    with pytest.raises(FeedError, match="needs fc-x-01's coordinates"):
        cfg.url_for("fc-x-01")
    with pytest.raises(FeedError, match="'pm2.5' is not a name"):
        FeedConfig.of("https://air.example.org/v1", "pm2.5")
