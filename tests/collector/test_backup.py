"""`quantrac backup` then `quantrac restore` into a fresh run folder, against real services: a
collector stores readings, means, an AQI and an open SO2 alert in one run folder; its backup,
restored into a second run folder on the same InfluxDB version, has every series with the same
point count in every retention policy, the same open alerts (in the database, in the alert
state the next collector starts from, and retained on the broker), the same certificates and
secrets with their modes. A tampered, partial or misplaced restore is refused before anything
is written."""

from __future__ import annotations

import json
import secrets
import shutil
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from collector_live import WAIT_S, publish, retained_alert, wait_for

from collector import services as svc
from collector.config import Settings
from collector.pipeline import Collector
from collector.services import influxdb
from collector.services.state import Layout
from quantrac.cli import main
from quantrac.field import accounts
from quantrac_common import influxql

pytestmark = pytest.mark.services
STATION = "pq-air-05"
H = 3600


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def records(start: int, count: int, so2_ppb: float) -> list[dict]:
    """An hour of 5-minute records, SO2 far above the QCVN 05 1-hour limit."""
    boot = secrets.token_hex(4)
    return [{"v": 1, "st": STATION, "fw": "0.1.0", "boot": boot, "seq": i,
             "r": [{"t": start + 300 * (i + 1), "p": 300,
                    "d": {"so2": [so2_ppb + (i % 3) * 0.5, "ppb", 0, 30, 0],
                          "pm10": [40.0 + i % 2, "ug/m3", 0, 28, 0]}}]}
            for i in range(count)]


def point_counts(env: dict) -> dict[tuple, dict]:
    """(policy, measurement, tags) → {count_<field>: n} for every series of the database."""
    admin = (env["QUANTRAC_INFLUX_ADMIN_USER"], env["QUANTRAC_INFLUX_ADMIN_PASSWORD"])
    out = {}
    for rp in influxdb.retention_policies(env["QUANTRAC_INFLUX_URL"], admin):
        for s in influxql.query(env, f'SELECT count(*) FROM "{rp}"./.*/ GROUP BY *'):
            (row,) = s["values"]
            out[(rp, s["name"], tuple(sorted(s.get("tags", {}).items())))] = \
                dict(zip(s["columns"][1:], row[1:], strict=True))
    return out


def series(env: dict) -> list[str]:
    return sorted(row["key"] for row in influxql.rows(influxql.query(env, "SHOW SERIES")))


def open_alerts_db(env: dict) -> set[tuple[str, str, str]]:
    q = ('SELECT last("state") AS "state", last("id") AS "id" FROM "derived"."alert" '
         'GROUP BY "station", "rule"')
    return {(r["station"], r["rule"], r["id"]) for r in influxql.rows(influxql.query(env, q))
            if r["state"] == "open"}


def open_alerts_state(run: Path) -> dict[str, dict]:
    """The alert states the next collector starts from (`<data_dir>/state.json`)."""
    doc = json.loads((run / "collector" / "state.json").read_text())
    return {k: v for k, v in doc["alerts"]["alerts"].items() if v["status"] == "open"}


def untouched(run: Path) -> bool:
    return not run.exists() or not any(run.iterdir())


def mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


DEPARTMENT = {"regulations": {"QCVN 14:2025/BTNMT": {"limits": [
    {"param": "tss", "period": "1h", "unit": "mg/L", "max": {"B": 60}, "confidence": "A",
     "source": "TT 05/2025/TT-BTNMT Bảng 1"}]}}}
REVIEW = ('{"id":1,"type":"flag","station":"pq-air-01","by":"lan","at":1772420400,'
          '"reason":"maintenance","param":"pm10","start":1772409600,"end":1772416800}\n')
FLEET = '{"v": 1, "published": {}, "good": ["1.0.0", "1.1.0"], "withdrawn": []}\n'


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A run folder with TLS certificates, readings, derived points and an open alert, its
    backup made with `quantrac backup` while the broker runs, and what it held then; every
    service stopped again."""
    top = tmp_path_factory.mktemp("backup")
    run, dest = top / "run1", top / "backup"
    accounts.ensure_tls(Layout(run))  # our CA and the broker's certificate: state to keep
    (run / "regulations.json").write_text(json.dumps(DEPARTMENT))  # official numbers entered
    (run / "review.jsonl").write_text(REVIEW)  # an operator's flag
    (run / "firmware").mkdir()
    (run / "firmware" / "fleet.json").write_text(FLEET)  # `quantrac fleet`'s good versions
    try:
        env = svc.up(run, bench=True)
        c = Collector(Settings.from_env(env, run, {
            "sources": {"mqtt": {"client_id": f"backup-{uuid.uuid4().hex[:8]}"}},
            "metrics": {"interval_s": 1.0}}))
        try:
            c.start()
            assert c.wait_ready(WAIT_S)
            h0 = int(time.time()) // H * H - 2 * H
            publish(env, STATION, records(h0, 12, 200.0))
            wait_for(lambda: open_alerts_db(env), "the open SO2 alert")
            wait_for(lambda: influxql.query(env, 'SELECT * FROM "collector" LIMIT 1'),
                     "the collector's own metrics")
        finally:
            c.stop()  # its alert state saved: an exact copy needs the collector stopped
        before = {"counts": point_counts(env), "series": series(env),
                  "alerts": open_alerts_db(env), "retained": retained_alert(env, STATION),
                  "state": open_alerts_state(run)}
        result = cli("backup", str(dest), "--run-dir", str(run))
        assert result.exit_code == 0, result.output
    finally:
        svc.down(run)
    return {"run": run, "dest": dest, "before": before, "output": result.output}


def test_a_restore_into_a_fresh_run_folder_has_every_series_and_every_open_alert(made,
                                                                                 tmp_path):
    before, run1, dest = made["before"], made["run"], made["dest"]
    assert before["alerts"] and before["state"] and before["retained"]
    assert {k[0] for k in before["counts"]} == {"autogen", "derived"}
    assert {k[1] for k in before["counts"]} >= {"reading", "collector", "mean", "aqi", "alert"}

    run2 = tmp_path / "run2"
    result = cli("restore", str(dest), "--run-dir", str(run2))
    assert result.exit_code == 0, result.output
    assert "stopped, as before" in result.output  # it started them for the restore only
    assert not any(row["running"] for row in svc.status(run2))
    try:
        env2 = svc.up(run2, bench=True)
        assert point_counts(env2) == before["counts"]
        assert series(env2) == before["series"]
        assert open_alerts_db(env2) == before["alerts"]
        assert open_alerts_state(run2) == before["state"]
        # the broker's persistence came too
        assert retained_alert(env2, STATION) == before["retained"]
        # the restored secrets are the original ones: the same users log in
        assert env2["QUANTRAC_INFLUX_WRITE_PASSWORD"] == \
            svc.load_env(run1)["QUANTRAC_INFLUX_WRITE_PASSWORD"]
    finally:
        svc.down(run2)
    for name in ("ca.crt", "server.crt", "server.key", "listener.json"):
        assert (run2 / "mosquitto/tls" / name).read_bytes() == \
            (run1 / "mosquitto/tls" / name).read_bytes()
    assert (run2 / "secrets/tls-ca.key").read_bytes() == (run1 / "secrets/tls-ca.key").read_bytes()
    assert json.loads((run2 / "regulations.json").read_text()) == DEPARTMENT
    assert (run2 / "review.jsonl").read_text() == REVIEW
    assert (run2 / "firmware" / "fleet.json").read_text() == FLEET  # what a rollback needs


def test_secrets_stay_private_in_the_backup_and_after_the_restore(made, tmp_path):
    dest = made["dest"]
    assert mode(dest) == 0o700
    assert all(mode(p) == 0o700 for p in dest.rglob("*") if p.is_dir())
    for name in ("passwords.json", "stations.json", "tls-ca.key"):
        assert mode(dest / "run/secrets" / name) == 0o600
    assert mode(dest / "run/mosquitto/tls/server.key") == 0o600
    assert all(mode(p) == 0o600 for p in (dest / "influxdb").iterdir())
    assert mode(dest / "manifest.json") == 0o600

    run2 = tmp_path / "run2"
    assert cli("restore", str(dest), "--run-dir", str(run2)).exit_code == 0
    assert mode(run2 / "secrets") == 0o700
    for name in ("passwords.json", "stations.json", "tls-ca.key"):
        assert mode(run2 / "secrets" / name) == 0o600
    assert mode(run2 / "mosquitto/tls/server.key") == 0o600


def test_the_backup_takes_no_record_of_what_runs(made):
    """A restored folder must not believe a service or a collector runs: no pids, locks,
    services.env or status snapshot are copied; the manifest lists every file it holds."""
    dest = made["dest"]
    names = {p.name for p in dest.rglob("*") if p.is_file()}
    assert not names & {"services.json", "services.env", "services.lock", "lock",
                        "status.json", "collector.log", "mosquitto.conf"}
    assert not [n for n in names if n.endswith((".lock", ".tmp", ".log"))]
    doc = json.loads((dest / "manifest.json").read_text())
    listed = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert set(doc["files"]) == listed - {"manifest.json"}
    assert doc["versions"]["influxd"].startswith("InfluxDB v1.")
    assert doc["database"]["retention_policies"] == {"autogen": "INF", "derived": "INF"}
    assert "saved its persistence file on request" in doc["broker"]
    assert doc["collector_running"] is False


def test_a_tampered_file_stops_the_restore_before_it_writes_anything(made, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(made["dest"], copy)
    target = copy / "run/secrets/stations.json"
    target.write_text(target.read_text().replace('"', "'", 1))
    run2 = tmp_path / "run2"
    result = cli("restore", str(copy), "--run-dir", str(run2))
    assert result.exit_code == 1
    assert "run/secrets/stations.json: sha256 differs from the manifest" in result.output
    assert "nothing was restored" in result.output
    assert untouched(run2)

    (copy / "collector/state.json").unlink()
    result = cli("restore", str(copy), "--run-dir", str(run2))
    assert "collector/state.json: missing" in result.output and untouched(run2)


def test_a_folder_without_a_manifest_is_not_a_backup(made, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(made["dest"], partial)
    (partial / "manifest.json").unlink()  # what an interrupted backup leaves
    run2 = tmp_path / "run2"
    result = cli("restore", str(partial), "--run-dir", str(run2))
    assert result.exit_code == 1
    assert f"{partial} is not a Quantrac backup: it has no manifest.json" in result.output
    assert untouched(run2)


def test_a_manifest_cannot_send_a_file_out_of_the_run_folder(made, tmp_path):
    evil = tmp_path / "evil"
    shutil.copytree(made["dest"], evil)
    doc = json.loads((evil / "manifest.json").read_text())
    doc["files"]["run/../../outside.json"] = doc["files"]["run/secrets/stations.json"]
    (evil / "manifest.json").write_text(json.dumps(doc))
    run2 = tmp_path / "run2"
    result = cli("restore", str(evil), "--run-dir", str(run2))
    assert result.exit_code == 1 and "leaves the backup folder" in result.output
    assert not (tmp_path / "outside.json").exists() and untouched(run2)

    del doc["files"]["run/../../outside.json"]
    doc["database"]["folder"] = "/var/lib"
    (evil / "manifest.json").write_text(json.dumps(doc))
    result = cli("restore", str(evil), "--run-dir", str(run2))
    assert result.exit_code == 1 and "database.folder: '/var/lib' leaves" in result.output


def test_a_run_folder_with_data_is_replaced_only_with_force(made, tmp_path):
    """The original run folder holds data: a restore into it is refused and changes nothing;
    with --force its database and state become the backup's."""
    run = tmp_path / "used"
    shutil.copytree(made["run"], run)
    stations = (run / "secrets/stations.json").read_bytes()
    extra = run / "collector/spool/00000000000000000099.seg"
    extra.write_bytes(b"not in the backup")
    result = cli("restore", str(made["dest"]), "--run-dir", str(run))
    assert result.exit_code == 1
    assert "holds data already" in result.output and "--force" in result.output
    assert (run / "secrets/stations.json").read_bytes() == stations and extra.exists()

    result = cli("restore", str(made["dest"]), "--run-dir", str(run), "--force")
    assert result.exit_code == 0, result.output
    assert not extra.exists()  # the backup's spool, not a mix of both
    try:
        env = svc.up(run, bench=True)
        assert point_counts(env) == made["before"]["counts"]
        assert open_alerts_db(env) == made["before"]["alerts"]
    finally:
        svc.down(run)


def test_backup_needs_the_database_running_and_a_new_folder(made, tmp_path):
    result = cli("backup", str(tmp_path / "b"), "--run-dir", str(made["run"]))
    assert result.exit_code == 1 and "InfluxDB of" in result.output and \
        "is not running" in result.output
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("x")
    fresh = tmp_path / "fresh"
    try:
        svc.up(fresh)
        result = cli("backup", str(used), "--run-dir", str(fresh))
        assert result.exit_code == 1 and "is not an empty folder" in result.output
    finally:
        svc.down(fresh)
