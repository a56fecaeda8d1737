"""Real transmitters' quirks (sensor-maps.md §6) read by the unix-port firmware from catalog
data alone, against an independent pymodbus peer, found in the records the station publishes
to the project's own Mosquitto.

Every register word below is written by hand from the bytes the datasheet (or the reference's
test vector) gives; nothing is encoded by the project's code. One line carries one slave per
model, each with the behaviour its manual describes: the Y560 gives no answer for a register
it does not map, the Y504 measures only after a read of 0 registers, the Aqualabo OPTOD only
after an FC16 trigger and its waiting time, the BMV080 only after START.
"""

from __future__ import annotations

import json

import pytest
from fw_harness import NullModem, validator
from fw_station import BOOT, Subscriber, line_sensor, station_config, station_mqtt, wait_records
from quirk_peer import QuirkPeer, Request, Slave

import boards

pytestmark = [pytest.mark.services, pytest.mark.slow]

STATION = "pq-tap-02"
SAMPLE_S = 2
REPORT_S = 10
NAN_ABCD = [0x7FC0, 0x0000]   # quiet NaN, big-endian
NAN_DCBA = [0x0000, 0xC07F]   # the same bytes little-endian: 00 00 C0 7F

# A model added as a file in a temporary folder: rarer encodings on one probe, read in two
# blocks with their own function codes (FC03 holding, FC04 input).
LAB_MODEL = {
    "model": "lab-quirks",
    "title": "a transmitter with every rarer encoding, for the firmware test",
    "source": "this test", "confidence": "C",
    "bus": "modbus",
    "serial": {"baud": 9600, "bits": 8, "parity": "N", "stop": 1},
    "modbus": {"default_address": 20, "function": 3, "timeout_ms": 250, "turnaround_ms": 20,
               "blocks": [{"function": 3, "register": 0, "count": 3},
                          {"function": 4, "register": 16, "count": 5}]},
    "channels": [
        # AM23xx style sign-magnitude: 0x80CD = -20.5 at x0.1
        {"param": "sm", "unit": "degC", "register": 0, "type": "int16", "sign": "magnitude",
         "scale": 0.1, "range": [-40, 80]},
        # a decimal-point register: 1234 with 2 places = 12.34
        {"param": "dp", "unit": "mg/L", "register": 1, "type": "int16",
         "decimals_register": 2, "range": [0, 100]},
        # greenioiot 8-in-1: T = raw / 100 - 40; 6550 = 25.5
        {"param": "g8", "unit": "degC", "register": 16, "type": "uint16", "scale": 0.01,
         "offset": -40, "range": [-40, 80]},
        # Vaisala's integer "not available"
        {"param": "na", "unit": "%", "register": 17, "type": "int16", "unavailable": [32768],
         "range": [-100, 100]},
        # species basis: NH4-N to NH4+ (x 18.04 / 14.01 = 1.288) on a 0.01 mg/L register
        {"param": "nh4ion", "unit": "mg/L", "register": 18, "type": "uint16",
         "scale": 0.01288, "range": [0, 100]},
        # a saturation sent as a fraction (Y504's 0x2602), recorded in %: 0.875 -> 87.5
        {"param": "sat", "unit": "%", "register": 19, "type": "float32", "order": "DCBA",
         "scale": 100, "range": [0, 200]},
    ],
}


def wanted() -> dict[str, float | None]:
    return {
        # 6.1 DCBA (Yosemitech 25.0 = 00 00 C8 41, pH 7.00 = 00 00 E0 40), three blocks,
        # silence for the registers between them
        "y_temp": 25.0, "y_ph": 7.0, "y_nh4": 1.5,
        # 6.7 a read of 0 registers starts the Y504
        "ox_do": 8.25,
        # 6.8 the Y511's error byte voids its turbidity
        "tb_turbidity": None,
        # 6.1 CDAB (Vaisala 30.56 = 7AE1 41F4), 6.8 a NaN temperature is unavailable
        "va_rh": 30.56, "va_temp": None,
        # 6.2 the Greystone manual's 40002 is PDU address 1
        "gr_co": 17,
        # 6.3 FC04 data, 6.8 an error bit voids NO2 only
        "ra_co": 12, "ra_no2": None,
        # 6.1 ABCD (BMV080 12.5 = 41 48 00 00), 6.7 START before any data
        "pm_pm1": 12.5, "pm_pm2_5": 20.0, "pm_pm10": 32.0,
        # 6.5 offset sign (10250 = -25.0), two's complement (0xFF33 = -20.5)
        "kc_temp": -25.0, "kc_rh": 65.5, "xy_temp": -20.5, "xy_rh": 54.6,
        # 6.7 FC16 trigger and the waiting time before the read
        "aq_do": 7.5,
        # the temporary folder's model: 6.5 sign-magnitude and offset -40, 6.6 decimals
        # register, species basis, fraction to percent, 6.8 0x8000, 6.3 FC03 + FC04 blocks
        "lab_sm": -20.5, "lab_dp": 12.34, "lab_g8": 25.5, "lab_na": None,
        "lab_nh4ion": 1.288, "lab_sat": 87.5,
    }


def slaves() -> dict[int, Slave]:
    """address -> what the peer holds there and how it behaves."""
    started: dict[str, float] = {}

    def y504(req: Request, regs: list[int], start: int, peer: QuirkPeer) -> None:
        i = 0x2604 - start  # DO mg/L: 8.25 = 00 00 04 41 once measuring, NaN before
        if req.fn == 3 and 0 <= i < len(regs):
            on = any(z.slave == 3 and z.address == 0x2500 for z in peer.zero_reads)
            regs[i:i + 2] = [0x0000, 0x0441] if on else NAN_DCBA

    def bmv080(req: Request, regs: list[int], start: int, peer: QuirkPeer) -> None:
        if req.fn == 16 and req.address == 3 and req.values == [1]:
            started["bmv080"] = req.t
        elif req.fn == 4 and start <= 6 < start + len(regs):
            data = [0x4148, 0x0000, 0x41A0, 0x0000, 0x4200, 0x0000]  # 12.5, 20.0, 32.0
            regs[6 - start:12 - start] = data if "bmv080" in started else NAN_ABCD * 3

    def optod(req: Request, regs: list[int], start: int, peer: QuirkPeer) -> None:
        if req.fn == 16 and req.address == 1:
            started["optod"] = req.t
        elif req.fn == 3 and start <= 0x57 < start + len(regs):
            # measured only after a trigger and its 500 ms; each trigger gives one reading
            t = started.pop("optod", None)
            ok = t is not None and req.t - t >= 0.45
            regs[0x57 - start:0x59 - start] = [0x40F0, 0x0000] if ok else NAN_ABCD  # 7.5

    peer_slaves = {
        1: Slave(holding={0x2400: [0x0000, 0xC841],                    # 25.0 DCBA
                          0x2600: [0x0000, 0x0000, 0x0000, 0xE040],    # mV, pH 7.00 DCBA
                          0x2800: [0x0000, 0xC03F]},                   # 1.5 DCBA
                 silent=True),
        3: Slave(holding={0x2600: [0x0000, 0xC841, 0x0000, 0x603F] + NAN_DCBA},
                 silent=True, zero_read_reply=True, behaviour=y504),
        5: Slave(holding={0x2600: [0x0000, 0xC841, 0x0000, 0x403F, 0x0300]},  # 0.75, code 3
                 silent=True, zero_read_reply=True),
        240: Slave(holding={0: [0x7AE1, 0x41F4, 0x0000, 0x7FC0]}),     # 30.56 CDAB, NaN
        9: Slave(holding={0: [0, 17]}),                                # status, CO ppm
        11: Slave(input={0: [0, 12, 12, 1120, 250, 0, 3, 760, 0x0001]}),
        87: Slave(holding={1: [3, 1, 0]}, input={0: [0x0296, 0x3343, 0x1000, 4, 2, 0]
                                                 + NAN_ABCD * 3}, behaviour=bmv080),
        13: Slave(input={0: [10250, 655]}),
        15: Slave(input={1: [0xFF33, 0x0222]}),
        10: Slave(holding={1: [0], 0x53: [0x41C8, 0, 0x42AF, 0] + NAN_ABCD + [0, 0]},
                  behaviour=optod),
        20: Slave(holding={0: [0x80CD, 1234, 2]},
                  input={16: [6550, 0x8000, 100, 0x0000, 0x603F]}),
    }
    return peer_slaves


SENSORS = [  # (sensor id, catalog model, address)
    ("y", "yosemitech-y560", 1), ("ox", "yosemitech-y504", 3), ("tb", "yosemitech-y511", 5),
    ("va", "vaisala-hmp110", 240), ("gr", "greystone-cmd5b4", 9),
    ("ra", "ra-gas-sensor-mb-nap5xx", 11), ("pm", "dfrobot-sen0662", 87),
    ("kc", "kincony-sht30", 13), ("xy", "xy-md02", 15), ("aq", "aqualabo-optod", 10),
]


def quirk_config(env: dict[str, str], line: str, lab: dict) -> dict:
    specs = {**boards.catalog(), "lab-quirks": lab}
    sensors = [line_sensor(sid, specs[model], addr)
               for sid, model, addr in [*SENSORS, ("lab", "lab-quirks", 20)]]
    return station_config(env, STATION, {"rs485": line}, sensors, SAMPLE_S, REPORT_S)


def test_every_quirk_class_reaches_the_published_record(services, model_file, launch):
    with NullModem() as modem, QuirkPeer(modem.b.path, slaves()) as peer, \
            Subscriber(services, f"quantrac/v1/{STATION}/data") as sub:
        fw = launch(quirk_config(services, modem.a.path, model_file(LAB_MODEL)))
        boot = fw.wait_log(BOOT).group(1)
        fw.wait_log(r"boot ready", timeout=30)
        msgs, got = wait_records(sub, boot, 3, timeout=90)
        assert len(got) >= 3, fw.log()
        for _t, payload, _r in msgs:
            validator("data")(json.loads(payload))
    want = wanted()
    # after the first (partial) period every value is what the datasheet bytes say
    for r in got[1:]:
        assert set(r["d"]) == set(want), r
        for param, value in want.items():
            v, _unit, status, n = r["d"][param][:4]
            if value is None:
                assert (v, status, n) == (None, 2, 0), (param, r["d"][param])
            else:
                assert v == pytest.approx(value, abs=1e-9) and status == 0 and n >= 1, \
                    (param, r["d"][param])
    # the Y504 and Y511 were started once each by a read of 0 registers at 0x2500
    starts = sorted((q.slave, q.address) for q in peer.zero_reads)
    assert starts[:1] == [(3, 0x2500)] and (5, 0x2500) in starts
    assert len([s for s in starts if s[0] == 3]) == 1
    # the Y560 was read in its three blocks, never across the gaps it does not answer
    assert {(q.address, q.count) for q in peer.seen(1)} == {(0x2400, 2), (0x2602, 2),
                                                             (0x2800, 2)}
    # the lab model's blocks went out with their own function codes
    assert {(q.fn, q.address) for q in peer.seen(20)} == {(3, 0), (4, 16)}
    # the OPTOD was triggered before every read (FC16, the bitmask 0x0007)
    optod = peer.seen(10)
    reads = [i for i, q in enumerate(optod) if q.fn == 3]
    assert reads and all(optod[i - 1].fn == 16 and optod[i - 1].values == [7] for i in reads)
    # START went to the BMV080 once
    assert [q.values for q in peer.seen(87) if q.fn == 16] == [[1]]


def test_the_real_parts_water_profile_builds_boots_and_publishes(services, launch):
    """boards.firmware_config for a station of the `water-real` profile, unchanged but for
    its port and intervals: the Y560 (three blocks), the Y504 (started) and the Y511."""
    prof = boards.profile("water-real")
    st = boards.Station(id=STATION, name="real parts", kind=prof["kind"], lat=10.2, lon=103.9,
                        station_class="", regulation="", column=None, profile="water-real")
    peer_slaves = slaves()
    peer_slaves[5].holding[0x2600][4] = 0x0000  # the Y511 without an error code
    with NullModem() as modem, \
            QuirkPeer(modem.b.path, {a: peer_slaves[a] for a in (1, 3, 5)}), \
            Subscriber(services, f"quantrac/v1/{STATION}/data") as sub:
        cfg = boards.firmware_config(st, {"rs485": {"path": modem.a.path}},
                                     station_mqtt(services, STATION), sample_s=SAMPLE_S,
                                     report_s=REPORT_S)
        fw = launch(cfg)
        _msgs, got = wait_records(sub, fw.wait_log(BOOT).group(1), 2)
    assert len(got) >= 2, fw.log()
    values = {p: v[0] for p, v in got[-1]["d"].items()}
    assert values == {"temp": 25.0, "ph": 7.0, "nh4": 1.5, "do": 8.25, "turbidity": 0.75}
    assert "comes from" not in fw.log()  # no parameter carried twice


@pytest.mark.parametrize("sensor, says", [
    ({"read": [[3, 0x2400, 126]]},
     "config: sensors[0].read[0]: [3, 9216, 126] is not [fn 3|4, register, count 1..125]"),
    ({"send": [[6, 1, 1, 0, 0]]}, "config: sensors[0].send[0]: [6, 1, 1, 0, 0] is not [fn 3|4"),
    ({"read": [[3, 0x2400, 2]]},
     "sensors nh4: channel ph (registers 10240..10241) lies in no block"),
    ({"ch": [{"param": "ph", "unit": "pH", "reg": 0, "type": "int16", "signed": -2,
              "range": [0, 14]}]},
     "config: sensors[0].ch[0].signed: -2 is not a whole number in -1..4294967295"),
])
def test_the_firmware_refuses_bad_quirk_keys_naming_them(tmp_path, sensor, says):
    import subprocess

    from fw_harness import FIRMWARE, HEAP, MICROPYTHON, RawPty, mpy_env

    base = {"id": "nh4", "bus": "modbus", "uart": "rs485", "addr": 1, "ch": [
        {"param": "temp", "unit": "degC", "reg": 0x2400, "type": "float32", "order": "DCBA",
         "range": [0, 60]},
        {"param": "ph", "unit": "pH", "reg": 0x2800, "type": "float32", "order": "DCBA",
         "range": [0, 14]}]}
    port = RawPty()  # the third case gets as far as opening the line
    try:
        cfg = {"station": "pq-tap-02",
               "mqtt": {"host": "127.0.0.1", "user": "u", "password": "p"},
               "uarts": {"rs485": {"path": port.path}}, "sensors": [{**base, **sensor}],
               "data_dir": str(tmp_path / "data")}
        path = tmp_path / "config.json"
        path.write_text(json.dumps(cfg))
        proc = subprocess.run([str(MICROPYTHON), "-X", HEAP, str(FIRMWARE / "main.py"),
                               str(path)], env=mpy_env(), capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)
    finally:
        port.close()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stdout
