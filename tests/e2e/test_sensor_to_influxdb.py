"""One register value, followed from a simulated sensor to its InfluxDB point.

Simulator (Modbus RTU slave on a pty) → unix-port firmware (real Modbus master, umqtt) →
real Mosquitto → collector (paho, validation, influxdb-client through the v2 proxy) → real
InfluxDB, read back with InfluxQL as Grafana would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from e2e_wait import wait_for

import boards
from collector.config import Settings, with_options
from collector.pipeline import Collector
from hil.station import SimulatedStation
from quantrac_common import influxql

pytestmark = pytest.mark.services

SO2_PPB = 123.4  # float32, word order CDAB, register 0 of the gas analyser
SO2_UGNM3 = SO2_PPB * 64.07 / 24.45  # stored in µg/Nm³ at 25 °C, 760 mmHg (QCVN 05:2023)
PM10_UGM3 = 42  # the 0x42 0x4D stream carries whole µg/m³
REPORT_S = 5


@pytest.fixture
def published(services):
    """Every data message the broker routes, as an operator would watch it."""
    got: list[dict] = []
    lock = threading.Lock()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"watch-{uuid.uuid4().hex[:8]}")
    client.username_pw_set(services["QUANTRAC_MQTT_OPERATOR_USER"],
                           services["QUANTRAC_MQTT_OPERATOR_PASSWORD"])

    def on_message(_c, _u, msg):
        with lock:
            got.append(json.loads(msg.payload))

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe("quantrac/v1/+/data", qos=1)
    client.connect(services["QUANTRAC_MQTT_HOST"], int(services["QUANTRAC_MQTT_PORT"]))
    client.loop_start()
    yield got
    client.loop_stop()
    client.disconnect()


def test_a_register_value_arrives_in_influxdb_with_value_unit_and_time(
        services, session_run_dir, tmp_path, published):
    station = boards.registry().get("pq-air-01")
    started = int(time.time())
    settings = with_options(Settings.from_env(services, run_dir=tmp_path),
                            mqtt={"client_id": f"e2e-{uuid.uuid4().hex[:8]}"})
    collector = Collector(settings)
    collector.start()
    sim = SimulatedStation(station, services, tmp_path, sample_s=1, report_s=REPORT_S, seed=7)
    try:
        sim.sims["gas"].pin("so2", SO2_PPB)
        sim.sims["pm"].pin("pm10", PM10_UGM3)
        sim.start()

        def stored():
            return influxql.rows(influxql.query(
                services, "SELECT * FROM reading WHERE station = 'pq-air-01' "
                f"AND time > {started}s GROUP BY *"))

        def ready():
            got = stored()
            so2 = [r for r in got if r["param"] == "so2"]
            pm10 = [r for r in got if r["param"] == "pm10" and r.get("value") is not None]
            # A full period (the first after boot may hold fewer samples), and PM after warm-up.
            return (so2, pm10) if len(so2) >= 2 and pm10 else None

        rows, pm10 = wait_for("so2 points and a warmed-up pm10 point", ready, timeout=90)
        record = [r for r in stored() if r["time"] == pm10[-1]["time"]]
    finally:
        sim.stop()
        collector.stop()

    point = rows[-1]
    assert point["value"] == pytest.approx(SO2_UGNM3, abs=1e-2)
    assert (point["unit"], point["kind"], point["status"]) == ("ug/Nm3", "air", 0)
    assert point["time"] % REPORT_S == 0 and started < point["time"] <= time.time() + REPORT_S

    # The point's time is the record time the station published (in the sensor's native unit),
    # not the collector's clock.
    records = [r for m in published if m["st"] == "pq-air-01" for r in m["r"]]
    by_time = {r["t"]: r for r in records}
    assert point["time"] in by_time
    value, unit, status, n, _flags, *_ = by_time[point["time"]]["d"]["so2"]
    assert (round(value, 3), unit, status) == (SO2_PPB, "ppb", 0) and n >= 1

    # PM10 measured at the station's air is referred to 25 °C and 1 atm with the temperature
    # and pressure its THP sensor put in the same record (processors/units)
    last = pm10[-1]
    thp = {r["param"]: r["value"] for r in record}
    k = (thp["temp"] + 273.15) / 298.15 * 1013.25 / thp["pressure"]
    assert last["value"] == pytest.approx(PM10_UGM3 * k) and last["raw"] == PM10_UGM3
    assert (last["unit"], last["ref"]) == ("ug/m3", "station")
