"""A backdated day and a bit of protocol-v1 traffic for a few stations, published as the
stations themselves (their own broker logins), so the real collector turns it into readings,
means, indices, alerts and device points the dashboards read.

The records run every 5 minutes from the hour before the last complete local day up to a few
minutes ago, so hourly, 8-hour and daily means and the daily VN_AQI exist. On top of smooth
baselines, relative to the end:

- air: an SO2 episode above the QCVN 05 1-hour limit (opens and closes an alert) and another
  over the last three hours (still open); CO calibrating (status 01) for an hour; TSP in
  device error (status 02) for two hours; PM10 without a value for an hour (QC 9); NO2 with
  the station's "incomplete" flag for an hour (QC 3); the station is the night market's, with
  a sound-level meter: its six sound levels, the market loud from 18:00 to midnight (above
  the QCVN 26:2010 night limit from 21:00: a noise alert, the night judged whole);
- water (one station per regulation column): pH above the range for two hours half a day
  ago, and NH4 above the wastewater limit at the end;
- devices: status, birth (firmware, slot, reset cause) and hourly health (heap, backlog, RSSI,
  errors) for every station, one of them restarting by its watchdog six hours ago; one
  (`OTA`, flashed for OTA: its birth says slot a, the others' `-`) refusing a firmware
  update two hours ago (its `ota` events).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt

import boards

STEP = 300
AIR = "pq-air-02"  # the night market: its sound levels feed the noise dashboard too
WATER = ("pq-tap-04", "pq-tap-02", "pq-ww-02", "pq-ww-04", "pq-sea-01", "pq-sea-02")
NH4_HIGH = "pq-ww-02"  # QCVN 14 column B: NH4 at most 10 mg/L
STATIONS = (AIR, *WATER)
OTA = "pq-sea-02"  # runs 0.0.9 and refuses 0.1.0 over the air
LIVE = "pq-air-16"  # a simulated station (unix-port firmware): real status, birth and health
H = 3600


@dataclass
class Plan:
    start: int  # time of the first record's period start
    end: int  # time of the last record
    day_end: int  # the last local midnight at or before `end`: a complete local day before it
    messages: dict[str, list[tuple[str, dict]]] = field(default_factory=dict)
    forecasts: dict = field(default_factory=dict)  # station -> the forecaster's StationForecast

    def records(self) -> int:
        return (self.end - self.start) // STEP


def plan(now: float | None = None) -> Plan:
    now = int(now if now is not None else time.time())
    end = now - now % STEP - STEP
    tz = ZoneInfo(boards.registry().timezone)
    local = datetime.fromtimestamp(end, tz)
    day_end = int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    start = int((datetime.fromtimestamp(day_end, tz) - timedelta(hours=25)).timestamp())
    p = Plan(start, end, day_end)
    for st in STATIONS:
        p.messages[st] = list(_station(st, p))
    return p


def _wave(t: int, period_h: float, amplitude: float, phase: float = 0.0) -> float:
    # smooth, never flat: a daily wave plus a small fast one, so QC sees no flat line
    return amplitude * math.sin(2 * math.pi * t / (period_h * H) + phase) + \
        amplitude * 0.05 * math.sin(2 * math.pi * t / 1500)


def _air(t: int, p: Plan) -> dict[str, list]:
    ago = p.end - t
    so2 = 20 + _wave(t, 24, 4)
    if 17 * H < ago <= 20 * H or ago < 3 * H:
        so2 = 200 + _wave(t, 3, 5)  # 524 µg/Nm³ against the 1-hour limit of 350
    d = {"so2": [round(so2, 2), "ppb", 0, 30, 0],
         "co": [round(0.8 + _wave(t, 24, 0.2, 1), 3), "ppm", 0, 30, 0],
         "no2": [round(15 + _wave(t, 24, 5, 2), 2), "ppb", 0, 30, 0],
         "o3": [round(25 + _wave(t, 24, 10, 3), 2), "ppb", 0, 30, 0],
         "temp": [round(29 + _wave(t, 24, 3), 2), "degC", 0, 30, 0],
         "rh": [round(75 + _wave(t, 24, 10, 4), 2), "%", 0, 30, 0],
         "pressure": [round(1008 + _wave(t, 24, 2), 2), "hPa", 0, 30, 0],
         "tsp": [round(60 + _wave(t, 24, 15), 2), "ug/m3", 0, 30, 0],
         "pm10": [round(35 + _wave(t, 24, 10, 5), 2), "ug/m3", 0, 28, 0, 20.0, 60.0],
         "pm2_5": [round(21 + _wave(t, 24, 6, 5), 2), "ug/m3", 0, 28, 0],
         "pm1": [round(14 + _wave(t, 24, 4, 5), 2), "ug/m3", 0, 28, 0]}
    d.update({k: [round(v, 1), "dBA", 0, STEP, 0] for k, v in _sound(t).items()})
    if 9 * H < ago <= 10 * H:
        d["co"][2] = 1  # calibrating
    if 6 * H < ago <= 8 * H:
        d["tsp"][2] = 2  # device error
    if 4 * H < ago <= 5 * H:
        for pm in ("pm1", "pm2_5", "pm10"):
            d[pm] = [None, "ug/m3", 0, 0, 4]  # sensor offline when the period closed
    if 3 * H < ago <= 4 * H:
        d["no2"][3], d["no2"][4] = 20, 2  # fewer than 75 % of the samples
    return d


def _sound(t: int) -> dict[str, float]:
    """The night market's five-minute levels (dBA): traffic by day, the market loud from
    18:00 to midnight, quiet after; small fast waves so no value repeats (QC's flat line)."""
    hour = datetime.fromtimestamp(t - 1, ZoneInfo(boards.registry().timezone)).hour
    base = 67.0 if hour >= 18 else (60.0 if hour >= 6 else 47.0)
    laeq = base + 1.5 * math.sin(t / 700) + 0.4 * math.sin(t / 130)
    return {"laeq": laeq, "lamax": laeq + 14 + 3 * math.sin(t / 900),
            "lamin": laeq - 12 + math.sin(t / 500), "l10": laeq + 3, "l50": laeq - 2,
            "l90": laeq - 8}


def _water(st: str, t: int, p: Plan) -> dict[str, list]:
    clean = st.startswith("pq-sea") or st == "pq-tap-02"  # the raw-water source: NH4 <= 0.3
    nh4 = 0.05 + _wave(t, 24, 0.01) if clean else 2 + _wave(t, 24, 0.5)
    if st == NH4_HIGH and p.end - t < 3 * H:
        nh4 = 15 + _wave(t, 3, 0.5)
    ph = 7.2 + _wave(t, 24, 0.2)
    if 12 * H < p.end - t <= 14 * H:
        ph = 9.6 + _wave(t, 3, 0.05)  # above every water regulation's pH range
    d = {"ph": [round(ph, 3), "pH", 0, 30, 0],
         "temp": [round(29 + _wave(t, 24, 1), 2), "degC", 0, 30, 0],
         "do": [round(6.5 + _wave(t, 24, 0.5, 1), 3), "mg/L", 0, 30, 0],
         "tss": [round(20 + _wave(t, 24, 5, 2), 2), "mg/L", 0, 30, 0],
         "nh4": [round(nh4, 4), "mg/L", 0, 30, 0]}
    d.update(_water_kind(st, t))
    return d


def _water_kind(st: str, t: int) -> dict[str, list]:
    """The parameters only one kind of water station measures (its profile's extra probes)."""
    kind = boards.registry().get(st).kind
    if kind == "surface_water":
        return {}  # the raw-water source (pq-tap-02): the common probes only
    if kind == "tap_water":
        return {"turbidity": [round(0.4 + _wave(t, 24, 0.1), 3), "NTU", 0, 30, 0],
                "chlorine": [round(0.5 + _wave(t, 24, 0.1, 1), 3), "mg/L", 0, 30, 0]}
    if st.startswith("pq-ww"):
        return {"cod": [round(40 + _wave(t, 24, 10, 1), 2), "mg/L", 0, 30, 0],
                "flow": [round(60 + _wave(t, 24, 30, 2), 2), "m3/h", 0, 30, 0]}
    return {"conductivity": [round(50 + _wave(t, 12.42, 1), 3), "mS/cm", 0, 30, 0],
            "salinity": [round(32.7 + _wave(t, 12.42, 0.6), 3), "PSU", 0, 30, 0]}


def _station(st: str, p: Plan):
    """(topic kind, payload) in time order: status and birth, then each hour's records
    (one message) and its health event; a watchdog restart for one station."""
    boot = uuid.uuid4().hex[:8]
    fw = "0.1.0" if st != OTA else "0.0.9"
    slot = "a" if st == OTA else "-"  # flashed for OTA, its bundle in slot a; the rest without
    yield "status", {"v": 1, "st": st, "online": True, "fw": fw, "boot": boot, "t": p.start}
    yield "event", {"v": 1, "st": st, "boot": boot, "ev": "birth", "t": p.start, "fw": fw,
                    "reset": "power_on", "crumb": "none", "boots": 1, "uptime_before": 0,
                    "cal": {}, "slot": slot}
    seq, t, errors = 0, p.start + STEP, 0
    while t <= p.end:
        hour = []
        while t <= p.end and len(hour) < 12:
            d = _air(t, p) if st == AIR else _water(st, t, p)
            hour.append({"t": t, "p": STEP, "d": d})
            t += STEP
        yield "data", {"v": 1, "st": st, "fw": fw, "boot": boot, "seq": seq, "r": hour}
        seq += 1
        last = hour[-1]["t"]
        errors += 1 if seq % 5 == 0 else 0
        yield "event", {"v": 1, "st": st, "boot": boot, "ev": "health", "t": last,
                        "heap": 61000 - 40 * seq, "backlog": 40 if seq % 7 == 0 else 0,
                        "dropped": 0, "rssi": -60 - seq % 15, "uptime": last - p.start,
                        "errors": {"modbus_timeout": errors}}
        if st == OTA and p.end - 3 * H <= last < p.end - 2 * H:
            for dt, state, why in ((20, "download", None), (
                    40, "refused", "signature does not match the manifest")):
                yield "event", {"v": 1, "st": st, "boot": boot, "ev": "ota", "t": last + dt,
                                "state": state, "ver": "0.1.0",
                                **({"why": why} if why else {})}
        if st == NH4_HIGH and p.end - 6 * H <= last < p.end - 5 * H:
            yield "status", {"v": 1, "st": st, "online": False, "boot": boot, "t": last + 60}
            boot, seq = uuid.uuid4().hex[:8], 0
            yield "status", {"v": 1, "st": st, "online": True, "fw": fw, "boot": boot,
                             "t": last + 120}
            yield "event", {"v": 1, "st": st, "boot": boot, "ev": "birth", "t": last + 120,
                            "fw": fw, "reset": "watchdog", "crumb": "publish", "boots": 2,
                            "uptime_before": last - p.start, "cal": {}, "slot": slot}


def publish(env: dict[str, str], p: Plan, timeout: float = 60.0) -> int:
    """Send every station's messages at QoS 1 by the test stack's bench account (it publishes
    as any station); waits for every PUBACK. Status messages are not retained here, so nothing
    is left on the broker."""
    sent = 0
    for st, messages in p.messages.items():
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"{st}-grafana-{uuid.uuid4().hex[:6]}")
        c.username_pw_set(env["QUANTRAC_MQTT_BENCH_USER"], env["QUANTRAC_MQTT_BENCH_PASSWORD"])
        c.max_inflight_messages_set(100)
        c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        c.loop_start()
        try:
            infos = [c.publish(f"quantrac/v1/{st}/{kind}", json.dumps(doc), qos=1)
                     for kind, doc in messages]
            deadline = time.monotonic() + timeout
            for info in infos:
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
                if not info.is_published():
                    raise TimeoutError(f"{st}: the broker did not acknowledge a message")
            sent += len(infos)
        finally:
            c.loop_stop()
            c.disconnect()
    return sent


def clear_retained(env: dict[str, str], topics: list[str], user: str, password: str) -> None:
    """Empty retained messages on the session's shared broker."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"clear-{uuid.uuid4().hex[:6]}")
    c.username_pw_set(user, password)
    c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    c.loop_start()
    try:
        for topic in topics:
            c.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)
    finally:
        c.loop_stop()
        c.disconnect()


def clear_station_state(env: dict[str, str], stations) -> None:
    """The stations' retained status (bench account) and alert states (collector account),
    as other tests on the shared broker may have left them."""
    clear_retained(env, [f"quantrac/v1/{st}/status" for st in stations],
                   env["QUANTRAC_MQTT_BENCH_USER"], env["QUANTRAC_MQTT_BENCH_PASSWORD"])
    clear_retained(env, [f"quantrac/v1/alerts/{st}" for st in stations],
                   env["QUANTRAC_MQTT_COLLECTOR_USER"], env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"])
