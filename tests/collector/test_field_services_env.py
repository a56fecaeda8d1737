"""The services.env docs/operations.md has an operator write by hand for a database that
`quantrac services up` does not run (InfluxDB 2.7, 3 Core): `quantrac collector run` and the
InfluxQL readers (Grafana, `grafana check`, `export`, e-gov) must find all they need in it."""

from __future__ import annotations

import re
from pathlib import Path

from collector import config
from collector.services import load_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
FIRST_LINE = "# /var/lib/quantrac-collector/services.env"
READER_KEYS = ("QUANTRAC_INFLUX_URL", "QUANTRAC_INFLUX_DB", "QUANTRAC_INFLUX_READ_USER",
               "QUANTRAC_INFLUX_READ_PASSWORD")


def documented_env() -> str:
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)
    found = [b for b in blocks if b.startswith(FIRST_LINE + "\n")]
    assert len(found) == 1, f"{DOC}: one code block should start with {FIRST_LINE!r}"
    return found[0]


def test_the_hand_written_services_env_of_the_docs_runs_the_collector_and_the_readers(tmp_path):
    (tmp_path / "services.env").write_text(documented_env(), encoding="utf-8")
    settings = config.load(tmp_path)  # what `quantrac collector run --run-dir` does first
    env = load_env(tmp_path)
    assert settings.influx_db == "quantrac" and settings.mqtt_port == 41883
    # 2.7 is written through the v2-write proxy, and read from the server itself
    assert settings.influx_write_url == "http://127.0.0.1:8087"
    assert env["QUANTRAC_INFLUX_URL"] == "http://127.0.0.1:8086"
    assert [k for k in READER_KEYS if not env.get(k)] == []
    assert settings.dead_letters.is_relative_to(tmp_path)  # spool and dead letters move along
