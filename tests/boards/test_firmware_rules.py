"""What the firmware would refuse at a station's boot is refused when boards/ is read and by
`quantrac station build`, naming the file and the key (boards/firmware_rules.py).

Each case changes one data file as a technician might (through the loader's own reader, so
the files on disk stay as they are); tests/firmware/test_fw_boot_refusals.py shows the
firmware refusing the same at boot."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from click.testing import CliRunner

import boards
from boards import firmware_rules
from quantrac.cli import main

FIRMWARE = boards.HERE.parent / "firmware"


def channel(doc: dict, i: int = 0) -> dict:
    return doc["channels"][i]


# ---- a model the firmware cannot run ------------------------------------------------------------

MODEL_CASES = [
    pytest.param(  # the pH probe of issue 17: pH at 0x2800, temperature at 0x2400
        "qt-ph-485", lambda m: [channel(m, i).update(register=reg, type="float32", order="ABCD")
                                or channel(m, i).pop("decimals_register")
                                for i, reg in ((0, 0x2800), (1, 0x2400))],
        r"qt-ph-485\.json: channels: span 1026 registers \(9216\.\.10241\), more than one read",
        id="block-span"),
    pytest.param("qt-ph-485", lambda m: channel(m).update(decimals_register=200),
                 r"qt-ph-485\.json: channels: span 201 registers \(0\.\.200\)", id="dec-reg-span"),
    pytest.param("qt-ph-485", lambda m: m["serial"].update(baud=14400),
                 r"qt-ph-485\.json: serial\.baud: 14400 is not a standard speed", id="baud"),
    pytest.param("qt-ph-485", lambda m: m["serial"].update(parity="M"),
                 r"qt-ph-485\.json: serial\.parity: 'M' is not one of N, E, O", id="parity"),
    pytest.param("qt-ph-485", lambda m: m["serial"].update(stop=3),
                 r"qt-ph-485\.json: serial\.stop: 3 is not a whole number in 1\.\.2", id="stop"),
    pytest.param("qt-ph-485", lambda m: m["serial"].update(bits=9),
                 r"qt-ph-485\.json: serial\.bits: 9 is not a whole number in 7\.\.8", id="bits"),
    pytest.param("qt-ph-485", lambda m: m["serial"].update(flow="rts"),
                 r"qt-ph-485\.json: serial\.flow: unknown key", id="serial-key"),
    pytest.param("qt-ph-485", lambda m: channel(m).update(unit='"pH"'),
                 r"qt-ph-485\.json: channels\[0\]\.unit: '\"pH\"' is not 1-16 printable",
                 id="unit-quote"),
    pytest.param("qt-ph-485", lambda m: channel(m).update(unit="milligrams per litre"),
                 r"channels\[0\]\.unit: 'milligrams per litre' is not 1-16", id="unit-long"),
    pytest.param("qt-ph-485", lambda m: channel(m).update(scale=0),
                 r"qt-ph-485\.json: channels\[0\]\.scale: must not be 0", id="scale-0"),
    pytest.param("qt-ph-485", lambda m: channel(m).update(offset="1"),
                 r"channels\[0\]\.offset: '1' is not a number", id="offset-text"),
    pytest.param("qt-ph-485", lambda m: channel(m).update(type="int16", order="ACBD"),
                 r"channels\[0\]\.order: 'ACBD' is not one of", id="order-16bit"),
    pytest.param("qt-ph-485", lambda m: m["modbus"].update(default_address=248),
                 r"modbus\.default_address: 248 is not a whole number in 1\.\.247",
                 id="address"),
    pytest.param("qt-ph-485", lambda m: m["modbus"].pop("timeout_ms"),
                 r"modbus\.timeout_ms: None is not a whole number in 1\.\.10000",
                 id="timeout-missing"),
    pytest.param("qt-ph-485", lambda m: m["modbus"].update(turnaround_ms=0),
                 r"modbus\.turnaround_ms: 0 is not", id="turnaround"),
    pytest.param("qt-sound-485", lambda m: m["sound"].update(sample_s=61),
                 r"qt-sound-485\.json: sound\.sample_s: 61 is not a whole number of seconds in "
                 r"1\.\.60", id="sound-period"),
    pytest.param("qt-sound-485", lambda m: m["channels"].pop(),
                 r"qt-sound-485\.json: channels: a sound meter records laeq, lamax, lamin, l10, "
                 r"l50, l90", id="sound-channels"),
    pytest.param("qt-pm-pms", lambda m: m["stream"].update(warmup_s=7200),
                 r"qt-pm-pms\.json: stream\.warmup_s: 7200 is not a whole number in 0\.\.3600",
                 id="warmup"),
    # the stream frame families' keys (bus/frames_more.py check()), and a command's checksum
    pytest.param("winsen-ze03-no2", lambda m: m["stream"]["send"][0].update(
        bytes="FF 01 78 03 00 00 00 00 85"),
        r"winsen-ze03-no2\.json: stream\.send\[0\]\.bytes: 'FF 01 78 03 00 00 00 00 85': the "
        r"last byte is not the two's complement of the sum of the bytes from 1 on \(84\)",
        id="ze-command-checksum"),
    pytest.param("honeywell-hpma115s0", lambda m: m["stream"]["send"][0].update(
        bytes="68 01 01 95"), r"stream\.send\[0\]\.bytes: '68 01 01 95': the last byte",
        id="hpma-command-checksum"),
    pytest.param("winsen-ze03-no2", lambda m: m["stream"]["match"].pop(0),
                 r"winsen-ze03-no2\.json: stream\.match: a ze frame is told by the gas code",
                 id="ze-without-gas-code"),
    pytest.param("winsen-ze03-no2", lambda m: m["stream"]["match"][0].update(position=9),
                 r"stream\.match\[0\]: .* is not \{position 1\.\.7, byte 0\.\.255\}",
                 id="match-position"),
    pytest.param("plantower-pms5003", lambda m: m["stream"].update(
        send=[{"bytes": "42 4D E2 00 00 01 71", "every_ms": 1000}]),
        r"plantower-pms5003\.json: stream\.send: is for the hpma, hpmaqa, ze, zeqa and bm "
        r"frames only",
        id="send-on-pms"),
    pytest.param("plantower-pms5003", lambda m: channel(m).update(scale=10),
                 r"channels\[0\]\.scale: 10: a non-zero number, and only for", id="pms-scale"),
    pytest.param("winsen-ze03-no2", lambda m: channel(m).update(scale=0),
                 r"winsen-ze03-no2\.json: channels\[0\]\.scale: 0: a non-zero number",
                 id="ze-scale-0"),
    # a frame's length is a match byte the firmware sizes the frame from (bm, hpmaqa)
    pytest.param("plantower-pms3003", lambda m: m["stream"]["match"].pop(),
                 r"plantower-pms3003\.json: stream\.match: a bm frame is told by its length word",
                 id="bm-without-length"),
    pytest.param("plantower-pms3003", lambda m: channel(m).update(field="w22"),
                 r"plantower-pms3003\.json: channels\[0\]\.field: 'w22' is past the end of a "
                 r"frame of length 20", id="bm-field-past-length"),
    pytest.param("honeywell-hpma115c0", lambda m: m["stream"]["match"][0].update(byte=14),
                 r"honeywell-hpma115c0\.json: stream\.match: an hpmaqa reply's length byte",
                 id="hpmaqa-length"),
]


@pytest.mark.parametrize("model, edit, message", MODEL_CASES)
def test_a_model_the_firmware_would_refuse_is_refused_when_the_catalog_is_read(
        edited, model, edit, message):
    edited(f"catalog/{model}", edit)
    with pytest.raises(boards.BoardsError, match=message):
        boards.catalog()


def test_every_catalog_model_and_registry_station_passes_today():
    assert boards.catalog() and boards.registry().stations


@pytest.mark.parametrize("serial", [{"baud": 4800}, {"baud": 19200, "stop": 2},
                                    {"baud": 9600, "parity": "E"}, {"bits": 7, "parity": "O"}])
def test_every_line_the_hal_can_set_is_accepted(edited, serial):
    edited("catalog/qt-ph-485", lambda m: m.update(serial=serial))
    assert boards.catalog()["qt-ph-485"]["serial"] == serial


# ---- a station the firmware cannot run -------------------------------------------------------

def test_two_speeds_on_one_line_are_refused_naming_the_profile_and_both_models(edited):
    # the T/RH transmitter of issue 17 at 4800 beside 9600 probes: today the first one's
    # settings would win silently and the other would read garbage
    edited("catalog/qt-tss-485", lambda m: m.update(serial={"baud": 4800}))
    with pytest.raises(boards.BoardsError, match=(
            r"boards/profiles/(tap-water|raw-water|wastewater|sea-water)\.json: "
            r"sensors\[2\]\.uart: qt-tss-485 runs at 4800 8N1, but qt-ph-485 \('ph'\) on the "
            r"same uart 'rs485' at 9600 8N1")):
        boards.registry()


def test_two_framings_on_one_line_are_refused(edited):
    edited("catalog/qt-do-opt", lambda m: m["serial"].update(stop=2))
    with pytest.raises(boards.BoardsError, match=r"sensors\[1\]\.uart: qt-do-opt runs at "
                                                 r"9600 8N2, but qt-ph-485"):
        boards.registry()


def test_a_streaming_sensor_sharing_its_uart_is_refused(edited):
    edited("profiles/air-standard", lambda p: p["sensors"][3].update(uart="rs485"))
    with pytest.raises(boards.BoardsError, match=(
            r"air-standard\.json: sensors\[3\]\.uart: 'rs485' carries 'gas' \(qt-gas4-ec\) "
            r"and 'pm' \(qt-pm-pms\): a streaming sensor \(pm\) needs its uart alone")):
        boards.registry()


def test_a_station_address_the_firmware_refuses_is_named_in_the_registry(edited):
    def strap(doc: dict) -> None:
        doc["stations"][5]["sensors"] = {"gas": {"address": 300}}

    edited("registry/phu-quoc", strap)
    with pytest.raises(boards.BoardsError, match=(
            r"phu-quoc\.json: stations\[5\]\.sensors\.gas\.address: 300 is not a whole "
            r"number in 1\.\.247")):
        boards.registry()


def test_two_sensors_at_one_address_on_one_line_are_refused(edited):
    edited("profiles/tap-water", lambda p: p["sensors"][1].update(address=1))
    with pytest.raises(boards.BoardsError, match=(
            r"tap-water\.json: sensors\[1\]\.address: 1 is also sensor 'ph''s on uart")):
        boards.registry()


@pytest.mark.parametrize("edit, message", [
    pytest.param(lambda p: p.update(sample_s=1, report_s=3600),
                 r"air-standard\.json: report_s: 3600 s / 1 s is more than 2047 samples",
                 id="samples-per-period"),
    pytest.param(lambda p: p.update(sample_s=0), r"air-standard\.json: sample_s: 0 is not",
                 id="sample-0"),
    pytest.param(lambda p: p.update(report_s=5),
                 r"air-standard\.json: report_s: 5 is not a whole number in 10\.\.86400",
                 id="report-short"),
    pytest.param(lambda p: p["sensors"][0].update(id="Gas"),
                 r"sensors\[0\]\.id: 'Gas' is not a lower", id="sensor-id"),
    pytest.param(lambda p: p["sensors"][1].update(id="gas"),
                 r"sensors\[1\]\.id: 'gas' appears twice", id="sensor-id-twice"),
])
def test_profile_settings_the_firmware_refuses_are_named(edited, edit, message):
    edited("profiles/air-standard", edit)
    with pytest.raises(boards.BoardsError, match=message):
        boards.registry()


def test_firmware_config_refuses_a_sampling_given_at_build_time():
    st = boards.registry().get("pq-air-01")
    with pytest.raises(boards.BoardsError, match=r"station pq-air-01: report_s: 5 is not"):
        boards.firmware_config(st, {"rs485": {}, "pm": {}}, {}, sample_s=10, report_s=5)


def test_station_build_names_the_file_and_key(edited, tmp_path):
    edited("catalog/qt-tss-485", lambda m: m.update(serial={"baud": 19200, "stop": 2}))
    result = CliRunner().invoke(main, ["station", "build", "pq-tap-01", "--config-only",
                                       "--run-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "sensors[2].uart: qt-tss-485 runs at 19200 8N2, but qt-ph-485" in result.output
    assert not (tmp_path / "stations" / "pq-tap-01" / "config.json").exists()


# ---- the limits are the firmware's own ---------------------------------------------------------

def constant(path: Path, name: str) -> object:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} defines no {name}")


def test_the_shared_limits_equal_the_firmware_source():
    assert constant(FIRMWARE / "bus" / "modbus_rtu.py", "MAX_READ") == firmware_rules.MAX_READ
    types = constant(FIRMWARE / "values" / "decode.py", "TYPES").split()
    widths = constant(FIRMWARE / "values" / "decode.py", "WIDTH")
    assert dict(zip(types, widths, strict=True)) == firmware_rules.WIDTH
    assert tuple(types) == boards.REGISTER_TYPES
    orders = tuple(constant(FIRMWARE / "values" / "decode.py", "ORDERS").split())
    assert orders == firmware_rules.ORDERS == boards.WORD_ORDERS
    speeds = constant(FIRMWARE / "hal" / "unix_line.py", "SPEEDS").split()
    assert tuple(int(s) for s in speeds) == firmware_rules.BAUD_RATES
    defaults = next(n.value for n in ast.parse((FIRMWARE / "defaults.py").read_text()).body
                    if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "DEFAULTS")
    uart = next(ast.literal_eval(v) for k, v in zip(defaults.keys, defaults.values, strict=True)
                if isinstance(k, ast.Constant) and k.value == "uart")
    assert {k: uart[k] for k in firmware_rules.LINE_DEFAULTS} == firmware_rules.LINE_DEFAULTS
