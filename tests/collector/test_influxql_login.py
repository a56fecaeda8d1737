"""InfluxQL reads (dashboards' checks, reports, open data, review recomputation) carry the
read login in a header and the statement in the body: nothing secret in a URL, which the
server's access log, a proxy or an error message would show."""

from __future__ import annotations

import pytest
from collector_live import wait_for

from collector.services import log_paths
from quantrac_common import influxql

pytestmark = pytest.mark.services


def test_a_query_s_url_holds_no_password(services, session_run_dir):
    log = log_paths(session_run_dir)["influxdb"]
    start = log.stat().st_size
    rows = influxql.rows(influxql.query(services, "SHOW RETENTION POLICIES"))
    assert rows  # the read login was taken

    def ours() -> list[str]:
        with open(log, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            return [line for line in f if "/query" in line and services[
                "QUANTRAC_INFLUX_READ_USER"] in line]

    wait_for(ours, "the query in the server's access log")
    assert not [line for line in ours() if "p=" in line or "?" in line.split('"')[1]]
    assert services["QUANTRAC_INFLUX_READ_PASSWORD"] not in log.read_text(errors="replace")
