"""The stream frame families of sensor-maps.md G5, P1 and P3 (Winsen ZE03 active upload and
Q&A, the ZE07-CH2O's Q&A, Honeywell HPMA115S0 auto-send and read on request, the HPMA115C0's
16-byte reply, the Plantower PMS3003's 24-byte and PMS5003ST's 40-byte frames), read by the
unix-port firmware from catalog data alone, each sensor on its own pty, found in the records
the station publishes to the project's Mosquitto.

Every frame below is written out byte by byte from the datasheet's layout; nothing is built
by the project's code. Around the good frames each sensor also sends what a real line carries:
garbage, a frame cut short, a bad checksum, a stray header byte, and frames that are valid but
not this sensor's value (another gas, another unit, an HPMA warm-up frame of zeros). Any of
those taken for a value would move the mean away from the one the good frames give.
"""

from __future__ import annotations

import json
import os
import select
import threading
import time

import pytest
from fw_harness import FrameWriter, RawPty, validator
from fw_station import BOOT, Subscriber, station_config, wait_records

import boards

pytestmark = [pytest.mark.services, pytest.mark.slow]

STATION = "pq-air-01"
SAMPLE_S = 2
REPORT_S = 10

# ZE03-NO2 active upload: FF | gas 2C | unit 02 (ppm) | decimals | conc H L | range H L | CS,
# CS = two's complement of the sum of bytes 1..7. 0.4 ppm twice: 4 with 1 decimal, 40 with 2.
ZE_A = bytes.fromhex("FF 2C 02 01 0004 00C8 05")
ZE_B = bytes.fromhex("FF 2C 02 02 0028 00C8 E0")
ZE_BAD_SUM = bytes.fromhex("FF 2C 02 01 0009 00C8 05")     # 0.9 ppm if the sum were ignored
ZE_SO2 = bytes.fromhex("FF 2B 02 01 0009 00C8 01")         # another gas's frame, valid
ZE_PPB = bytes.fromhex("FF 2C 04 00 0009 00C8 FF")         # 9 ppb, not 9 ppm: another unit
ZE_STREAM = (b"\x00\xff\x13" + ZE_A + ZE_BAD_SUM + ZE_B[:5] + ZE_B + ZE_SO2 + b"\xff" + ZE_PPB
             + ZE_A)

# A model added as a file in a temporary folder, of a family the firmware has: the ZE08-CH2O,
# whose manual's own example frame is FF 17 04 00 0025 1388 25 (37 ppb, unit code 04 = ppb).
ZE08_EXAMPLE = bytes.fromhex("FF 17 04 00 0025 1388 25")
ZE08_MODEL = {
    "model": "lab-ze08-ch2o", "title": "ZE08-CH2O, a model added as a file for the test",
    "source": "sensor-maps.md G5 (the manual's example frame)", "confidence": "B/C",
    "bus": "stream", "serial": {"baud": 9600, "bits": 8, "parity": "N", "stop": 1},
    "stream": {"frame": "ze", "period_ms": 1000, "warmup_s": 30, "sample_s": 5,
               "match": [{"position": 1, "byte": 0x17}, {"position": 2, "byte": 0x04}],
               "send": [{"bytes": "FF 01 78 40 00 00 00 00 47", "every_ms": 0}]},
    "channels": [{"param": "hcho", "unit": "ppb", "field": "conc", "range": [0, 5000]}],
}

# ZE03 Q&A: the station sends FF 01 78 04 ... 83 once, then FF 01 86 00 00 00 00 00 79; the
# reply is FF 86 | conc H L | gas code | 00 00 00 | CS: 0x23 = 35 counts of 0.01 ppm.
QA_SWITCH = bytes.fromhex("FF 01 78 04 00 00 00 00 83")
QA_READ = bytes.fromhex("FF 01 86 00 00 00 00 00 79")
QA_GOOD = bytes.fromhex("FF 86 0023 2C 000000 2B")
QA_REPLIES = [
    QA_GOOD,
    bytes.fromhex("FF 86 0099 2C 000000 B6"),            # bad checksum (it would be B5)
    bytes.fromhex("12 FF") + QA_GOOD,                    # garbage before a good reply
    bytes.fromhex("FF 86 0099 2B 000000 B6"),            # SO2's reply: valid, not ours
    QA_GOOD[:4],                                         # a reply cut short ...
    QA_GOOD,                                             # ... and the next one whole
]

# HPMA115S0 auto-send: 42 4D 00 1C, PM2.5 at bytes 6-7, PM10 at 8-9 (big-endian), uint16 sum of
# bytes 0..29 at 30-31. A Plantower parser would read 0 from bytes 12-15 of this frame.
HPMA = bytes.fromhex("424D001C 0000 0023 002A" + "00" * 20 + "00F8")
HPMA_ZERO = bytes.fromhex("424D001C" + "00" * 26 + "00AB")          # warming up: no value
HPMA_BAD_SUM = bytes.fromhex("424D001C 0000 0063 0063" + "00" * 20 + "00F8")
HPMA_START = bytes.fromhex("68 01 01 96 68 01 40 57")
HPMA_STREAM = HPMA_ZERO + b"\x42" + HPMA_BAD_SUM + HPMA[:20] + HPMA + HPMA_ZERO + HPMA

# HPMA115S0 read on request: the station stops auto-send once (68 01 20 77), then sends
# 68 01 04 93; the reply is 40 05 04 | PM2.5 H L | PM10 H L | (65536 - sum of the 7) mod 256.
HQ_STOP = bytes.fromhex("68 01 20 77")
HQ_READ = bytes.fromhex("68 01 04 93")
HQ_GOOD = bytes.fromhex("40 05 04 0023 002A 6A")
HQ_REPLIES = [
    bytes.fromhex("40 05 04 0000 0000 B7"),              # warming up: valid, no value
    bytes.fromhex("A5 A5") + HQ_GOOD,                    # an ACK, then the reply
    bytes.fromhex("40 05 04 0063 0063 F0"),              # bad checksum (it would be F1)
    HQ_GOOD[:5],                                         # cut short ...
    HQ_GOOD,                                             # ... and the next one whole
]

# HPMA115C0 read on request: the S0's commands; the reply is 16 bytes, 40 0D 04 | PM1 | PM2.5 |
# PM4 | PM10 (big-endian) | 4 reserved | (65536 - sum of the 15) mod 256.
HC_GOOD = bytes.fromhex("40 0D 04 0009 0015 0019 001F 0000 0000 59")   # 9, 21, (25), 31
HC_ZERO = bytes.fromhex("40 0D 04 0000 0000 0000 0000 0000 0000 AF")  # warming up: no value
HC_BAD_SUM = bytes.fromhex("40 0D 04 0063 0063 0063 0063 0000 0000 24")  # it would be 23
HC_S0 = bytes.fromhex("40 05 04 0063 0063 F1")  # an S0's 8-byte reply: valid, not this length
# Each wrong reply comes twice in a row, each time ahead of a good one: the trimmed mean drops
# one highest frame of a window, not two, and a good reply every request keeps the stream fresh.
HC_REPLIES = [
    HC_GOOD,
    HC_BAD_SUM + HC_GOOD,
    HC_BAD_SUM + HC_GOOD,
    HC_S0 + HC_GOOD,
    HC_S0 + HC_GOOD,
    HC_ZERO,
    bytes.fromhex("A5 A5") + HC_GOOD,                    # an ACK, then the reply
    HC_GOOD[:9],                                         # cut short ...
    HC_GOOD,                                             # ... and the next one whole
]

# ZE07-CH2O in Q&A mode: the station sends FF 01 78 41 ... 46 once (the ZE07/ZE08 argument,
# not the ZE03's 04), then FF 01 86 ... 79; the reply FF 86 | ug/m3 H L | res res | ppb H L |
# CS. The manual's own example: 42 ug/m3, 32 ppb.
ZC_SWITCH = bytes.fromhex("FF 01 78 41 00 00 00 00 46")
ZC_GOOD = bytes.fromhex("FF 86 002A 0000 0020 30")
ZC_BAD_SUM = bytes.fromhex("FF 86 0063 0000 0050 C8")  # 99 ug/m3, bad checksum (it would be C7)
ZC_REPLIES = [
    ZC_GOOD,
    ZC_BAD_SUM + ZC_GOOD,
    ZC_BAD_SUM + ZC_GOOD,
    ZC_GOOD[:6],                                         # cut short ...
    ZC_GOOD,                                             # ... and the next one whole
]

# PMS3003: 42 4D 00 14 (24 bytes), PM1/2.5/10 CF=1 at 4-9, atmospheric at 10-15 (12, 23, 30),
# three reserved words, the 16-bit sum of bytes 0..21 at 22-23.
P3 = bytes.fromhex("424D0014 0011 0021 0031 000C 0017 001E 0000 0000 0000 0147")
P3_BAD_SUM = bytes.fromhex("424D0014 0063 0063 0063 0063 0063 0063 0000 0000 0000 0147")
# a PMS5003's 32-byte frame (length 00 1C), its sum right: not this model's length
P3_LONG = bytes.fromhex("424D001C 0011 0021 0031 0063 0063 0063" + "0000" * 7 + "0237")
P3_STREAM = P3 + P3_BAD_SUM + b"\x42\x4d" + P3_LONG + P3[:10] + P3

# PMS5003ST: 42 4D 00 24 (40 bytes): the PMS5003's 12 words (atmospheric PM at 10-15: 11, 22,
# 29), HCHO at 28-29 (0x35: 0.053 mg/m3 = 53 ug/m3), temperature at 30-31 (0xFFCE: -50, so
# -5.0 degC), RH at 32-33 (0x0262: 61.0 %), reserved, version and error code, 16-bit sum.
ST = bytes.fromhex("424D0024 0010 0018 0020 000B 0016 001D 0100 0080 0040 0010 0004 0001 "
                   "0035 FFCE 0262 0000 9100 0506")
ST_ZERO = bytes.fromhex("424D0024" + "00" * 34 + "00B3")          # warming up: no value
ST_BAD_SUM = ST[:28] + bytes.fromhex("0135") + ST[30:]            # 309 ug/m3 if not checked
# a PMS3003 frame (length 00 14), its sum right: not this model's length
ST_SHORT = bytes.fromhex("424D0014 0010 0018 0020 0063 0063 0063 0000 0000 0000 0214")
ST_STREAM = ST_ZERO + ST + ST_SHORT + ST_BAD_SUM + ST[:33] + ST


def test_the_hand_written_frames_hold_their_datasheet_checksums():
    # ZE: all nine bytes sum to 0xFF (the reference's equivalent check); HPMA: 16-bit sum
    for f in (ZE_A, ZE_B, ZE_SO2, ZE_PPB, ZE08_EXAMPLE, QA_SWITCH, QA_READ, QA_GOOD, QA_REPLIES[3]):
        assert len(f) == 9 and sum(f) & 0xFF == 0xFF, f.hex()
    assert sum(ZE_BAD_SUM) & 0xFF != 0xFF and sum(QA_REPLIES[1]) & 0xFF != 0xFF
    for f in (HPMA, HPMA_ZERO):
        assert len(f) == 32 and sum(f[:30]) == int.from_bytes(f[30:], "big")
    for f in (HQ_GOOD, HQ_REPLIES[0], HQ_STOP, HQ_READ):  # the manual's (65536 - sum) % 256
        assert (65536 - sum(f[:-1])) % 256 == f[-1], f.hex()
    assert (65536 - sum(HQ_REPLIES[2][:-1])) % 256 != HQ_REPLIES[2][-1]
    assert sum(HPMA_BAD_SUM[:30]) != int.from_bytes(HPMA_BAD_SUM[30:], "big")
    for f in (HC_GOOD, HC_ZERO, HC_S0):
        assert (65536 - sum(f[:-1])) % 256 == f[-1], f.hex()
    assert len(HC_GOOD) == 16 and (65536 - sum(HC_BAD_SUM[:-1])) % 256 != HC_BAD_SUM[-1]
    for f in (ZC_SWITCH, ZC_GOOD):
        assert len(f) == 9 and sum(f) & 0xFF == 0xFF, f.hex()
    assert sum(ZC_BAD_SUM) & 0xFF != 0xFF
    for f, n in ((P3, 24), (P3_LONG, 32), (ST, 40), (ST_ZERO, 40), (ST_SHORT, 24)):
        assert len(f) == n == f[3] + 4 and sum(f[:-2]) == int.from_bytes(f[-2:], "big"), f.hex()
    for f in (P3_BAD_SUM, ST_BAD_SUM):
        assert sum(f[:-2]) != int.from_bytes(f[-2:], "big")


class QaModule:
    """A module in Q&A mode on a pty: silent until asked, one reply per read request."""

    def __init__(self, port: RawPty, request: bytes = QA_READ,
                 replies: list[bytes] = QA_REPLIES) -> None:
        self.port, self.request, self.answers = port, request, replies
        self.heard = bytearray()
        self.replies = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ze03-qa", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not select.select([self.port.fd], [], [], 0.05)[0]:
                continue
            try:
                self.heard += os.read(self.port.fd, 256)
            except BlockingIOError:
                continue
            while self.replies < self.heard.count(self.request):
                # each request answered once, in turn with the replies given
                self.port.write(self.answers[self.replies % len(self.answers)])
                self.replies += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Listener:
    """What the station wrote to a stream sensor's pty."""

    def __init__(self, port: RawPty) -> None:
        self.port = port
        self.heard = bytearray()

    def read(self) -> bytes:
        while select.select([self.port.fd], [], [], 0)[0]:
            try:
                self.heard += os.read(self.port.fd, 256)
            except BlockingIOError:
                break
        return bytes(self.heard)


MODELS = (("za", "winsen-ze03-no2"), ("zq", "winsen-ze03-no2-qa"),
          ("hp", "honeywell-hpma115s0"), ("hq", "honeywell-hpma115s0-qa"),
          ("z8", ZE08_MODEL["model"]), ("hc", "honeywell-hpma115c0"),
          ("zc", "winsen-ze07-ch2o"), ("p3", "plantower-pms3003"),
          ("st", "plantower-pms5003st"))


def stream_config(env: dict[str, str], paths: dict[str, str], lab: dict) -> dict:
    cat = {**boards.catalog(), lab["model"]: lab}
    sensors = []
    for sid, model in MODELS:
        entry = boards.sensor_entry({"id": sid, "model": model, "uart": sid}, cat[model])
        entry["warmup_s"] = 0  # the test's sensors are warm; the warm-up is tested elsewhere
        for ch in entry["ch"]:
            ch["param"] = f"{sid}_{ch['param']}"
        sensors.append(entry)
    return station_config(env, STATION, paths, sensors, SAMPLE_S, REPORT_S)


def test_ze03_and_hpma115s0_frames_reach_the_published_record(services, launch, model_file):
    ports = {sid: RawPty() for sid, _model in MODELS}
    writers: list[FrameWriter] = []
    qa = hq = hc = zc = sub = None
    hp_heard = Listener(ports["hp"])
    try:
        writers.append(FrameWriter(ports["za"], lambda: ZE_STREAM, period_s=1.0))
        writers.append(FrameWriter(ports["z8"], lambda: b"\x25" + ZE08_EXAMPLE, period_s=1.0))
        writers.append(FrameWriter(ports["p3"], lambda: P3_STREAM, period_s=1.0))
        writers.append(FrameWriter(ports["st"], lambda: ST_STREAM, period_s=1.0))
        qa = QaModule(ports["zq"])
        hq = QaModule(ports["hq"], HQ_READ, HQ_REPLIES)
        hc = QaModule(ports["hc"], HQ_READ, HC_REPLIES)
        zc = QaModule(ports["zc"], QA_READ, ZC_REPLIES)
        sub = Subscriber(services, f"quantrac/v1/{STATION}/data")
        fw = launch(stream_config(services, {s: p.path for s, p in ports.items()},
                                  model_file(ZE08_MODEL)))
        boot = fw.wait_log(BOOT).group(1)
        fw.wait_log(r"boot ready", timeout=30)
        time.sleep(1.0)
        heard_before_stream = hp_heard.read()  # what the station said before any frame came
        writers.append(FrameWriter(ports["hp"], lambda: HPMA_STREAM, period_s=1.0))
        msgs, got = wait_records(sub, boot, 3, timeout=90)
        assert len(got) >= 3, fw.log()
        for _t, payload, _r in msgs:
            validator("data")(json.loads(payload))
    finally:
        for w in writers:
            w.stop()
        for module in (qa, hq, hc, zc):
            if module is not None:
                module.stop()
        if sub is not None:
            sub.close()
        for p in ports.values():
            p.close()
    want = {"za_no2": 400.0, "zq_no2": 350.0, "hp_pm2_5": 35.0, "hp_pm10": 42.0,
            "z8_hcho": 37.0, "hq_pm2_5": 35.0, "hq_pm10": 42.0,
            "hc_pm1": 9.0, "hc_pm2_5": 21.0, "hc_pm10": 31.0, "zc_hcho": 42.0,
            "p3_pm1": 12.0, "p3_pm2_5": 23.0, "p3_pm10": 30.0,
            "st_pm1": 11.0, "st_pm2_5": 22.0, "st_pm10": 29.0, "st_hcho": 53.0,
            "st_temp": -5.0, "st_rh": 61.0}
    units = {"hc": "ug/m3", "zc": "ug/m3", "p3": "ug/m3", "st_temp": "degC", "st_rh": "%",
             "st": "ug/m3"}
    for r in got[1:]:  # after the first, partial period
        for param, value in want.items():
            v, unit, status, n = r["d"][param][:4]
            assert v == pytest.approx(value, abs=1e-6) and status == 0 and n >= 1, \
                (param, r["d"][param], fw.log())
            assert unit == units.get(param, units.get(param[:2], unit)), (param, unit)
    # the Q&A module was switched to Q&A first, then asked about once a second; the switch is
    # sent again only after replies stopped for stale_s (a loaded test machine can do that)
    assert bytes(qa.heard).startswith(QA_SWITCH) and seldom(qa.heard, QA_SWITCH, QA_READ)
    assert qa.replies >= 10
    # the HPMA read on request was told once to stop sending on its own, then asked
    assert bytes(hq.heard).startswith(HQ_STOP + HQ_READ) and seldom(hq.heard, HQ_STOP, HQ_READ)
    # the HPMA was told to start measuring and to send on its own, once, before any frame
    assert heard_before_stream == HPMA_START
    # the ZE07 was switched to Q&A with its own argument (78 41), once, then asked
    assert bytes(zc.heard).startswith(ZC_SWITCH + QA_READ) and zc.replies >= 10
    assert seldom(zc.heard, ZC_SWITCH, QA_READ)
    assert bytes(hc.heard).startswith(HQ_STOP + HQ_READ) and seldom(hc.heard, HQ_STOP, HQ_READ)


def seldom(heard: bytes | bytearray, mode: bytes, ask: bytes) -> bool:
    """The mode command was not repeated with the questions: at most one for every five."""
    return 1 <= bytes(heard).count(mode) <= max(1, bytes(heard).count(ask) // 5)


def _stream(model: str, sid: str = "s") -> dict:
    return boards.sensor_entry({"id": sid, "model": model, "uart": "u"},
                               boards.catalog()[model])


# (the loader's case id in tests/boards/test_firmware_rules.py, the sensor, what the firmware
# says at boot)
REFUSALS = [
    ("ze-without-gas-code", lambda s: s.update(match=[[2, 2]]),
     r"sensors\[0\]\.match: a ze frame is told by the gas code at byte 1"),
    ("match-position", lambda s: s.update(match=[[9, 44]]),
     r"sensors\[0\]\.match\[0\]: \[9, 44\] is not \[position 1\.\.7, byte\]"),
    ("ze-scale-0", lambda s: s["ch"][0].update(scale=0),
     r"sensors\[0\]\.ch\[0\]\.scale: must not be 0"),
    ("send-on-pms", "plantower-pms5003",
     r"sensors\[0\]: match and send are for the hpma, hpmaqa, ze, zeqa and bm "
     r"frames only"),
    ("bm-without-length", lambda s: s.update(match=[[2, 0]]),
     r"sensors\[0\]\.match: a bm frame is told by its length word"),
    ("bm-field-past-length", lambda s: s["ch"][0].update(field="w22"),
     r"sensors\[0\]\.ch\[0\]\.field: 'w22' is past the end of a frame of length 20"),
    ("hpmaqa-length", lambda s: s.update(match=[[1, 14]]),
     r"sensors\[0\]\.match: an hpmaqa reply's length byte"),
    ("pms-scale", "nova-sds011",
     r"sensors\[0\]\.ch\[0\]\.scale: is for the hpma, hpmaqa, ze, zeqa and bm frames "
     r"only"),
]


@pytest.mark.parametrize(("case", "edit", "message"), REFUSALS, ids=[c[0] for c in REFUSALS])
def test_the_firmware_refuses_the_stream_keys_the_loader_refuses(launch, case, edit, message):
    if isinstance(edit, str):  # a pms/sds sensor given what only the new families take
        sensor = _stream(edit)
        if case == "send-on-pms":
            sensor["send"] = [[[0x42, 0x4D, 0xE2, 0, 0, 1, 0x71], 1000]]
        else:
            sensor["ch"][0]["scale"] = 10
    else:
        sensor = _stream({"bm": "plantower-pms3003", "hp": "honeywell-hpma115c0"}.get(
            case[:2], "winsen-ze03-no2"))
        edit(sensor)
    port = RawPty()
    try:
        fw = launch({"station": STATION, "uarts": {"u": {"path": port.path}},
                     "mqtt": {"host": "127.0.0.1", "port": 1, "user": STATION,
                              "password": "x"}, "sensors": [sensor]})
        assert fw.proc.wait(60) == 2, fw.log()
        fw.wait_log(message, timeout=1)
    finally:
        port.close()
    src = (boards.HERE.parent / "tests" / "boards" / "test_firmware_rules.py").read_text()
    assert f'id="{case}"' in src  # the loader refuses the same


def test_the_hil_simulators_of_every_new_family_model_are_read_by_the_firmware(services, launch):
    """hil/frame_stream.py simulates each catalog model of these families from its data; the
    firmware, configured from the same catalog, publishes what the simulators were pinned to."""
    from hil.frame_stream import FAMILIES, FrameStream
    from hil.ports import PtyPort

    cat = boards.catalog()
    models = sorted(n for n, m in cat.items()
                    if m["bus"] == "stream" and m["stream"]["frame"] in FAMILIES)
    ports, sims, sensors, want = {}, [], [], {}
    sub = None
    try:
        for i, name in enumerate(models):
            sid = f"s{i}"
            ports[sid] = PtyPort(rx_limit=None)
            sim = FrameStream(cat[name], ports[sid])
            entry = boards.sensor_entry({"id": sid, "model": name, "uart": sid}, cat[name])
            entry["warmup_s"] = 0
            for ch in entry["ch"]:
                value = {"pm2_5": 21.0, "pm10": 33.0}.get(ch["param"], 7 * ch.get("scale", 1))
                sim.pin(ch["param"], value)
                ch["param"] = f"{sid}_{ch['param']}"
                want[ch["param"]] = value
            sim.start()
            sims.append(sim)
            sensors.append(entry)
        sub = Subscriber(services, f"quantrac/v1/{STATION}/data")
        fw = launch(station_config(services, STATION, {sid: p.path for sid, p in ports.items()},
                                   sensors, SAMPLE_S, REPORT_S))
        _msgs, got = wait_records(sub, fw.wait_log(BOOT).group(1), 2)
    finally:
        for sim in sims:
            sim.stop()
        if sub is not None:
            sub.close()
        for p in ports.values():
            p.close()
    assert len(got) >= 2, fw.log()
    assert {p: got[-1]["d"][p][0] for p in want} == pytest.approx(want), fw.log()
