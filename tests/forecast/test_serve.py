"""`quantrac forecast serve`: the production forecaster as its own process, on the real
InfluxDB and broker: it forecasts at start (read-only account for reads, the writer for the
`forecast` points) and fetches the configured external feed (a real local HTTP server with
the recorded answer), and a SIGTERM or SIGINT stops it cleanly (exit 0, "stopped")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import numpy as np
import pytest
from click.testing import CliRunner
from forecast_peers import Peer

from collector.contracts import Point
from forecast.service import sink
from quantrac.cli import main

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
RECORDED = (Path(__file__).parent / "data" / "feed_air_quality.json").read_bytes()


def _write_means(env: dict, station: str, now: int, days: int) -> None:
    t = np.arange(now - days * 86400 + 3600, now + 1, 3600)
    v = 30 + 8 * np.sin(2 * np.pi * t / 86400)
    r = sink(env).write([Point("mean", {"station": station, "kind": "air", "param": "pm2_5",
                                        "unit": "ug/m3", "period": "1h"},
                               {"value": round(float(x), 1), "n": 12, "expected": 12,
                                "complete": True}, int(tt)) for tt, x in zip(t, v, strict=True)])
    assert not r.error and not r.rejected, (r.error, r.rejected[:2])


def _count(env: dict, station: str) -> int:
    """How many hourly PM2.5 forecast points the station has."""
    q = urlencode({"db": env["QUANTRAC_INFLUX_DB"], "epoch": "s",
                   "q": f"SELECT count(\"value\") FROM \"derived\".\"forecast\" WHERE "
                        f"\"station\" = '{station}' AND \"param\" = 'pm2_5'",
                   "u": env["QUANTRAC_INFLUX_READ_USER"],
                   "p": env["QUANTRAC_INFLUX_READ_PASSWORD"]})
    with urlopen(f"{env['QUANTRAC_INFLUX_URL']}/query?{q}", timeout=10) as r:
        doc = json.loads(r.read())
    return sum(v[1] for s in doc["results"][0].get("series", []) for v in s["values"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_forecasts_at_start_and_stops_cleanly_on_a_signal(services, session_run_dir,
                                                                 sig):
    env = services
    station = f"fc-serve-{sig.name.lower()}"
    now = int(time.time())
    now -= now % 3600
    _write_means(env, station, now, days=10)
    feed = Peer({f"/feed/{station}": RECORDED})
    proc = subprocess.Popen([sys.executable, "-c", "from quantrac.cli import main; main()",
                             "forecast", "serve", "--run-dir", str(session_run_dir),
                             "--station", station],
                            env={**os.environ, "PYTHONPATH": str(ROOT),
                                 "QUANTRAC_FORECAST_FEED_URL": feed.url + "/feed/{station}?k=1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not _count(env, station):
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no forecast written"
            time.sleep(0.5)
    finally:
        proc.send_signal(sig)
        out = proc.communicate(timeout=60)[0]
        feed.close()
    assert proc.returncode == 0, out
    assert "forecast: stopped" in out and f"forecast: {sig.name}" in out
    # the feed of the unit's environment, asked for this station; its URL's query (where an
    # API key would be) is not printed
    assert f"/feed/{station}?k=1" in feed.requests
    assert "external feed pm2_5, pm10 from 127.0.0.1" in out and "k=1" not in out
    # the 72 hours of the issue from the hour ending now (persistence: 10 days is too short)
    assert _count(env, station) == 72


def test_serve_says_what_services_env_lacks(tmp_path):
    (tmp_path / "services.env").write_text("QUANTRAC_MQTT_HOST=127.0.0.1\n")
    res = CliRunner().invoke(main, ["forecast", "serve", "--run-dir", str(tmp_path)])
    assert res.exit_code == 1 and "services.env" in res.output, res.output
