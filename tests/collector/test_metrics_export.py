"""The collector's own metrics: the Prometheus text, the `collector` points, the HTTP endpoint,
status.json and `quantrac collector status` reading it."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from collector.contracts import QC_GOOD, Batch, Point, Reading
from collector.delivery.alert_outputs import AlertOutputs
from collector.metrics_export import Exporter, points, prometheus
from collector.processors.aggregate.plugin import AggregateProcessor
from collector.processors.alerts.plugin import AlertsProcessor
from quantrac.cli import main
from quantrac.cli.collector_status import render

H = 3600


def fake_collector(tmp_path, now: float) -> SimpleNamespace:
    """What the exporter reads from a Collector: stats, the stages, the alert outputs."""
    hour = int(now) // H * H - H  # the last full hour
    agg, alerts = AggregateProcessor(), AlertsProcessor()
    rs = [Reading("pq-air-01", "air", p, u, hour + 300 * (i + 1), 10.0, 0, QC_GOOD)
          for p, u in (("so2", "ppb"), ("pm10", "ug/m3")) for i in range(12 if p == "so2" else 6)]
    batch = agg.process(Batch([], readings=rs))
    batch.points.append(Point("mean", {"station": "pq-air-01", "kind": "air", "param": "no2",
                                       "unit": "ppb", "period": "1h"},
                              {"value": 500.0, "n": 12, "expected": 12, "complete": True},
                              hour + H))
    alerts.process(batch)
    stats = {
        "running": True, "uptime_s": 42.0, "queued": 3, "buffered": 0,
        "totals": {"messages": 7, "messages_by_kind": {"data": 6, "status": 1},
                   "readings_stored": 18, "rejected": 2,
                   "rejected_by_reason": {"schema": 1, "unit": 1}, "duplicates": 1,
                   "writes": {"ok": 4}},
        "source": {"connected": True}, "sink": {"state": "ok"},
        "spool": {"bytes": 2048, "max_bytes": 1 << 30, "high_water": False,
                  # the e-gov module's reader lags behind on its own
                  "pending_bytes": {"influxdb": 512, "egov": 4096}},
        "stations": {"pq-air-01": {"last_seen": now - 5, "last_record_time": hour + H,
                                   "readings_stored": 18, "messages": 6, "online": True},
                     "pq-tap-01": {"last_seen": None, "last_record_time": None,
                                   "readings_stored": 0, "messages": 0, "online": False}}}
    return SimpleNamespace(stats=stats, processors=[agg, alerts],
                           outputs=AlertOutputs({}, tmp_path / "adl.jsonl"),
                           settings=SimpleNamespace(data_dir=tmp_path))


def test_prometheus_text_and_points(tmp_path):
    now = time.time()
    ex = Exporter(fake_collector(tmp_path, now))
    ex.tick(now)
    text = prometheus(ex.doc)
    lines = set(text.splitlines())
    assert "quantrac_collector_up 1.0" in lines
    assert 'quantrac_collector_messages_total{kind="data"} 6.0' in lines
    assert 'quantrac_collector_rejected_total{reason="unit"} 1.0' in lines
    assert "quantrac_collector_spool_bytes 2048.0" in lines
    assert 'quantrac_collector_spool_pending_bytes{consumer="influxdb"} 512.0' in lines
    assert 'quantrac_station_online{station="pq-tap-01"} 0.0' in lines
    assert 'quantrac_station_hour_completeness_ratio{station="pq-air-01",param="so2"} 1.0' in lines
    assert 'quantrac_station_hour_completeness_ratio{station="pq-air-01",param="pm10"} 0.5' \
        in lines
    assert 'quantrac_alerts_open{station="pq-air-01"} 1.0' in lines
    for line in lines:  # every sample line is "name{labels} float"
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
    pts = points(ex.doc)
    total = pts[0]
    assert total.tags == {"scope": "total"} and total.fields["readings_stored"] == 18
    assert total.fields["alerts_open"] == 1 and total.fields["spool_pending_bytes"] == 512
    assert total.fields["spool_pending_bytes_egov"] == 4096
    by = {p.tags.get("station"): p.fields for p in pts[1:]}
    assert by["pq-air-01"]["hour_completeness"] == pytest.approx(18 / 24)
    assert by["pq-air-01"]["last_seen_age_s"] == pytest.approx(5, abs=1)
    assert by["pq-tap-01"]["online"] is False and "last_seen_age_s" not in by["pq-tap-01"]


def test_the_endpoint_serves_metrics_and_status(tmp_path):
    now = time.time()
    ex = Exporter(fake_collector(tmp_path, now), listen="127.0.0.1:0", interval_s=10,
                  status_file=tmp_path / "status.json")
    ex.start()
    try:
        assert ex.tick(now) == []  # the first snapshot (all zeros at start) is not stored
        assert ex.tick(now + 1) == [] and ex.tick(now + 10)  # due every interval_s
        with urllib.request.urlopen(ex.url, timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            assert b"quantrac_collector_up 1.0" in r.read()
        with urllib.request.urlopen(ex.url.replace("/metrics", "/status"), timeout=10) as r:
            assert json.loads(r.read())["stats"]["totals"]["messages"] == 7
        saved = json.loads((tmp_path / "status.json").read_text())
        assert saved["metrics_url"] == ex.url and saved["alerts_open"] == {
            "pq-air-01": ["qcvn05.no2.1h"]}
    finally:
        ex.stop()


def test_a_taken_port_costs_the_endpoint_not_the_collector(tmp_path, caplog):
    first = Exporter(fake_collector(tmp_path, time.time()), listen="127.0.0.1:0")
    first.start()
    try:
        port = first.url.rsplit(":", 1)[1].split("/")[0]
        second = Exporter(fake_collector(tmp_path, time.time()), listen=f"127.0.0.1:{port}")
        second.start()
        assert second.url == "" and "not started" in caplog.text
        second.stop()
    finally:
        first.stop()


def test_quantrac_collector_status_shows_stations_completeness_alerts_and_spool(tmp_path):
    now = time.time()
    ex = Exporter(fake_collector(tmp_path, now), status_file=tmp_path / "collector" / "status.json")
    ex.tick(now)
    res = CliRunner().invoke(main, ["collector", "status", "--run-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "broker connected, database ok" in out
    assert ("spool: 2.0 KB of 1.0 GB, 512 B not yet in the database, 4.0 KB not yet sent by "
            "egov") in out
    row = next(line for line in out.splitlines() if line.startswith("pq-air-01"))
    ago = re.search(r"(\d+) s ago", row)  # 5 s before the tick, read a moment later
    assert ago and 5 <= int(ago.group(1)) < 60, row
    assert "yes" in row and "18/24 (75 %)" in row
    assert "incomplete: pm10" in row and "qcvn05.no2.1h" in row
    tap = next(line for line in out.splitlines() if line.startswith("pq-tap-01"))
    assert "never" in tap and " NO " in tap
    old = render(ex.doc, now=now + 3600)
    assert old[0].startswith("WARNING: this status is 3600 s old")
    res = CliRunner().invoke(main, ["collector", "status", "--run-dir", str(tmp_path), "--json"])
    assert json.loads(res.output)["stats"]["queued"] == 3


def test_status_without_a_running_collector_says_so(tmp_path):
    res = CliRunner().invoke(main, ["collector", "status", "--run-dir", str(tmp_path)])
    assert res.exit_code == 1 and "is the collector running?" in res.output


def test_a_full_dead_letter_store_shows_in_the_metrics_the_points_and_the_status(tmp_path):
    now = time.time()
    fake = fake_collector(tmp_path, now)
    fake.stats["dead_letters"] = {"bytes": 65400, "max_bytes": 65536, "full": True,
                                  "evicted": 12}
    ex = Exporter(fake)
    ex.tick(now)
    lines = set(prometheus(ex.doc).splitlines())
    assert {"quantrac_collector_dead_letters_full 1.0", "quantrac_collector_dead_letter_bytes "
            "65400.0", "quantrac_collector_dead_letters_evicted_total 12.0",
            "quantrac_collector_spool_full 0.0"} <= lines
    total = points(ex.doc)[0].fields
    assert total["dead_letters_full"] is True and total["dead_letter_bytes"] == 65400
    text = "\n".join(render(ex.doc, now=now))
    assert ("dead letters: 63.9 KB of 64.0 KB, 12 dropped to make room (FULL: not "
            "acknowledging until replayed or discarded") in text
