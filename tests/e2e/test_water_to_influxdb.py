"""The water parameters the regulations need, from simulated transmitters to InfluxDB.

For one station of each water profile (tap water, wastewater outfall, coastal sea water), every
new catalog model is a Modbus RTU slave on the station's pty line beside the pH, DO, TSS and NH4
probes; the unix-port firmware polls them all, publishes through the real Mosquitto, and the
collector stores them in the real InfluxDB, read back with InfluxQL as Grafana would.
"""

from __future__ import annotations

import time
import uuid

import pytest
from e2e_wait import wait_for

import boards
from collector.config import Settings, with_options
from collector.pipeline import Collector
from hil.station import SimulatedStation
from quantrac_common import influxql

pytestmark = pytest.mark.services

REPORT_S = 5
# station -> sensor -> param -> pinned value (in the catalog's native unit) and stored unit
PINNED = {
    "pq-tap-01": {"turb": {"turbidity": (0.84, "NTU")},       # Yosemitech float32 DCBA
                  "cl2": {"chlorine": (0.47, "mg/L")}},        # uint16 x 0.01
    "pq-ww-01": {"cod": {"cod": (52.75, "mg/L")},              # float32 ABCD
                 "flow": {"flow": (86.5, "m3/h")}},            # float32 CDAB, input registers
    "pq-sea-01": {"ec": {"conductivity": (50.125, "mS/cm"),    # uint32 ABCD x 0.001
                         "salinity": (32.85, "PSU")}},         # uint16 x 0.01
}


def test_turbidity_chlorine_cod_flow_conductivity_and_salinity_arrive_in_influxdb(
        services, session_run_dir, tmp_path):
    started = int(time.time())
    settings = with_options(Settings.from_env(services, run_dir=tmp_path),
                            mqtt={"client_id": f"e2e-{uuid.uuid4().hex[:8]}"})
    collector = Collector(settings)
    collector.start()
    sims = [SimulatedStation(boards.registry().get(sid), services, tmp_path / sid, sample_s=1,
                             report_s=REPORT_S, seed=15) for sid in PINNED]
    try:
        for sim in sims:
            for sensor, values in PINNED[sim.station.id].items():
                for param, (v, _unit) in values.items():
                    sim.sims[sensor].pin(param, v)
            sim.start()

        def stored():
            rows = influxql.rows(influxql.query(
                services, "SELECT * FROM reading WHERE station =~ /^pq-(tap|ww|sea)-01$/ "
                f"AND time > {started}s GROUP BY *"))
            by: dict[tuple[str, str], list[dict]] = {}
            for r in sorted(rows, key=lambda r: r["time"]):
                by.setdefault((r["station"], r["param"]), []).append(r)
            want = {(st, p) for st, sensors in PINNED.items() for v in sensors.values()
                    for p in v}
            # a full period each (the first after boot is flagged incomplete: QC 3)
            full = {k for k, rs in by.items() if any(r["qc"] == 1 for r in rs)}
            return by if want <= full else None

        by = wait_for("a full period of every new water parameter of the three stations",
                       stored, timeout=120)
    finally:
        for sim in sims:
            sim.stop()
        collector.stop()

    for station, sensors in PINNED.items():
        kind = boards.registry().get(station).kind
        for values in sensors.values():
            for param, (value, unit) in values.items():
                rows = by[(station, param)]
                point = [r for r in rows if r["qc"] == 1][-1]
                assert point["value"] == pytest.approx(value, rel=1e-3), (station, param)
                assert (point["unit"], point["kind"], point["status"]) == (unit, kind, 0), \
                    (station, param, point)
                assert all(r["qc"] in (1, 3) for r in rows), (station, param, rows)


def test_a_turbidity_probe_reporting_its_own_error_gives_a_device_error_not_a_value(
        services, session_run_dir, tmp_path):
    """The Y511 still answers, with a plausible float, but its error byte (high byte of
    0x2604) is set: the station reports no turbidity and device status 02 while the chlorine
    probe on the same line goes on measuring."""
    started = int(time.time())
    settings = with_options(Settings.from_env(services, run_dir=tmp_path),
                            mqtt={"client_id": f"e2e-{uuid.uuid4().hex[:8]}"})
    collector = Collector(settings)
    collector.start()
    sim = SimulatedStation(boards.registry().get("pq-tap-03"), services, tmp_path, sample_s=1,
                           report_s=REPORT_S, seed=16)
    try:
        sim.sims["turb"].pin("turbidity", 0.84)
        sim.sims["turb"].set_error("turbidity", 2)
        sim.sims["cl2"].pin("chlorine", 0.47)
        sim.start()

        def stored():
            rows = influxql.rows(influxql.query(
                services, "SELECT * FROM reading WHERE station = 'pq-tap-03' AND "
                f"(param = 'turbidity' OR param = 'chlorine') AND time > {started}s GROUP BY *"))
            by = {}
            for r in sorted(rows, key=lambda r: r["time"]):
                by.setdefault(r["param"], []).append(r)
            full = [r for r in by.get("chlorine", []) if r["qc"] == 1]
            return by if full and len(by.get("turbidity", [])) >= 2 else None

        by = wait_for("turbidity and chlorine records of pq-tap-03", stored, timeout=90)
    finally:
        sim.stop()
        collector.stop()
    assert all(r.get("value") is None and r["status"] == 2 for r in by["turbidity"]), \
        by["turbidity"]
    assert by["chlorine"][-1]["value"] == pytest.approx(0.47) and \
        by["chlorine"][-1]["status"] == 0
