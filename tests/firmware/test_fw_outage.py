"""A day without the broker, on the fast clock: every record arrives once, in order.

The air station's gas analyser (pymodbus on a pty cable) and particulate stream, the
unix-port firmware at clock speed 1440 (a station day in a real minute), a TCP relay between
it and the project's Mosquitto that is cut for 24 station hours, and the real collector
(unique client id) writing into InfluxDB, read back with InfluxQL.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from fw_station import Firmware, Subscriber
from test_fw_broker import STATION, station_password

import boards
from collector.config import Settings, with_options
from collector.pipeline import Collector
from quantrac_common import influxql
from quantrac.bench.relay import TcpRelay

pytestmark = [pytest.mark.services, pytest.mark.slow]

SPEED = 1440          # station seconds per real second
REPORT_S = 300
OUTAGE_S = 86400      # station seconds without the broker


def records_logged(fw: Firmware) -> list[int]:
    """Every record the firmware closed and stored, by its time."""
    return [int(t) for t in re.findall(r"record t=(\d+) ", fw.log())]


def wait(what: str, predicate, timeout: float, context) -> object:
    """predicate()'s first true value; `context()` explains a time-out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{context()}")


@pytest.fixture
def collector(services, tmp_path):
    settings = with_options(Settings.from_env(services, run_dir=tmp_path / "collector"),
                            mqtt={"client_id": f"fw-outage-{uuid.uuid4().hex[:8]}"})
    c = Collector(settings)
    c.start()
    yield c
    c.stop()


@pytest.fixture
def sub(services):
    s = Subscriber(services, f"quantrac/v1/{STATION}/data")
    yield s
    s.close()


def test_a_day_without_the_broker_loses_and_duplicates_nothing(services, sensors, collector,
                                                               sub, tmp_path):
    t0 = (int(time.time()) - 3 * 86400) // REPORT_S * REPORT_S + 7  # all of it in the past
    relay = TcpRelay(services["QUANTRAC_MQTT_HOST"], int(services["QUANTRAC_MQTT_PORT"]))
    relay.up.set()
    fw = None
    try:
        cfg = boards.firmware_config(
            boards.registry().get(STATION),
            uarts={"rs485": {"path": sensors[0]}, "pm": {"path": sensors[1]}},
            mqtt={"host": "127.0.0.1", "port": relay.port, "user": STATION,
                  "password": station_password(services)},
            sample_s=60, report_s=REPORT_S, clock={"speed": SPEED, "t0": t0})
        cfg["sensors"] = [s for s in cfg["sensors"] if s["id"] in ("gas", "pm")]
        cfg["sensors"][1]["warmup_s"] = 1
        fw = Firmware(cfg, tmp_path)
        boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
        tail = lambda: fw.log()[-3000:]  # noqa: E731
        wait("two records published", lambda: len(re.findall(r"publish seq=", fw.log())) >= 2,
             60, tail)

        relay.cut()  # the broker is gone for a station day
        cut_at = max(records_logged(fw))
        wait("a station day of records", lambda: max(records_logged(fw)) >= cut_at + OUTAGE_S,
             240, tail)
        assert re.search(r"queued=(\d{3})", fw.log()), "the records waited in the backlog"
        relay.up.set()
        n_log = len(fw.log())
        wait("the backlog drained",
             lambda: re.search(r"publish seq=\d+ records=\d+ bytes=\d+ queued=0 ",
                               fw.log()[n_log:]), 120, tail)
        assert fw.stop() == 0, tail()
        fw = None
    finally:
        if fw is not None:
            fw.stop()
        relay.close()

    log_text = (tmp_path / "firmware.log").read_text()
    logged = [int(t) for t in re.findall(r"record t=(\d+) ", log_text)]
    # ascending period ends (a loop turn longer than a period, which only the fast clock's
    # real-time bus I/O causes, folds that period into the next record)
    assert logged == sorted(set(logged)) and all(t % REPORT_S == 0 for t in logged)
    assert logged[-1] - logged[0] >= OUTAGE_S and len(logged) >= OUTAGE_S // REPORT_S * 0.9

    # the broker saw each message at least once; with boot + seq, exactly the records
    def seen():
        by_seq = {}
        for _topic, payload, _retained in sub.snapshot():
            msg = json.loads(payload)
            if msg["boot"] == boot:
                by_seq.setdefault(msg["seq"], msg)
        return by_seq
    by_seq = wait("every record at the broker",
                  lambda: (s := seen()) and sum(len(m["r"]) for m in s.values()) >=
                  len(logged) and s, 60, lambda: f"{len(seen())} messages")
    sent = [r["t"] for seq in sorted(by_seq) for r in by_seq[seq]["r"]]
    assert sent == logged, "in order, each once"
    assert max(len(m["r"]) for m in by_seq.values()) > 4, "the backlog went in batches"

    def stored():
        rows = influxql.rows(influxql.query(
            services, "SELECT status FROM reading WHERE station = 'pq-air-01' AND "
            f"param = 'pm10' AND time >= {logged[0]}s AND time <= {logged[-1]}s"))
        return rows if len(rows) >= len(logged) else None
    rows = wait("every record in InfluxDB", stored, 60, lambda: str(collector.stats))
    assert [r["time"] for r in rows] == logged
