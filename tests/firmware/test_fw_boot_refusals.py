"""The other half of tests/boards/test_firmware_rules.py: each thing the boards loader refuses
as "the firmware would refuse it at boot" is refused by the unix-port firmware itself, exit
code 2 with a line naming the key, when a config.json carries it. Together they show the
loader and the firmware hold one rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fw_harness import RawPty

import boards

MQTT = {"host": "127.0.0.1", "port": 1, "user": "pq-tap-01", "password": "x"}


def sensor(cfg: dict, sid: str) -> dict:
    return next(s for s in cfg["sensors"] if s["id"] == sid)


def ch(cfg: dict, sid: str = "ph", i: int = 0) -> dict:
    return sensor(cfg, sid)["ch"][i]


def split_blocks(cfg: dict) -> None:
    for i, reg in ((0, 0x2800), (1, 0x2400)):
        c = ch(cfg, "ph", i)
        c.update(reg=reg, type="float32", order="ABCD")
        c.pop("dec_reg")


# (id of the loader's case, the same fact in the resolved config, what the firmware says)
CASES: list[tuple[str, Callable[[dict], object], str]] = [
    ("block-span", split_blocks, r"sensors ph: channels span 1026 registers, more than one read"),
    ("dec-reg-span", lambda c: ch(c).update(dec_reg=200), r"channels span 201 registers"),
    ("baud", lambda c: c["uarts"]["rs485"].update(baud=14400),
     r"uarts\.rs485\.baud: 14400 is not a speed the unix port can set"),
    ("parity", lambda c: c["uarts"]["rs485"].update(parity="M"),
     r"uarts\.rs485\.parity: 'M' is not one of N, E, O"),
    ("stop", lambda c: c["uarts"]["rs485"].update(stop=3), r"uarts\.rs485\.stop: 3 is not"),
    ("bits", lambda c: c["uarts"]["rs485"].update(bits=9), r"uarts\.rs485\.bits: 9 is not"),
    ("serial-key", lambda c: c["uarts"]["rs485"].update(flow="rts"),
     r"uarts\.rs485\.flow: unknown key"),
    ("unit-quote", lambda c: ch(c).update(unit='"pH"'), r"sensors\[0\]\.ch\[0\]\.unit: "),
    ("unit-long", lambda c: ch(c).update(unit="milligrams per litre"),
     r"sensors\[0\]\.ch\[0\]\.unit: "),
    ("scale-0", lambda c: ch(c).update(scale=0), r"sensors\[0\]\.ch\[0\]\.scale: must not be 0"),
    ("offset-text", lambda c: ch(c).update(offset="1"),
     r"sensors\[0\]\.ch\[0\]\.offset: '1' should be a number"),
    ("order-16bit", lambda c: ch(c).update(type="int16", order="ACBD"),
     r"sensors\[0\]\.ch\[0\]\.order: 'ACBD' is not one of"),
    ("address", lambda c: sensor(c, "ph").update(addr=248),
     r"sensors\[0\]\.addr: 248 is not a whole number in 1\.\.247"),
    ("turnaround", lambda c: sensor(c, "ph").update(turnaround_ms=0),
     r"sensors\[0\]\.turnaround_ms: 0 is not"),
    ("samples-per-period", lambda c: c.update(sample_s=1, report_s=3600),
     r"report_s: at most 2047 samples per period"),
    ("sample-0", lambda c: c.update(sample_s=0), r"config: sample_s: 0 is not"),
    ("report-short", lambda c: c.update(report_s=5), r"config: report_s: 5 is not"),
    ("sensor-id", lambda c: sensor(c, "ph").update(id="Ph"), r"sensors\[0\]\.id: 'Ph' is not"),
    ("sensor-id-twice", lambda c: sensor(c, "do").update(id="ph"),
     r"sensors\[1\]\.id: 'ph' appears twice"),
    # a sensor with its own period is a sound meter (devices/sound.py): 1..60 s, six channels
    ("sound-period", lambda c: sensor(c, "ph").update(sample_s=61),
     r"sensors\[0\]\.sample_s: 61 is not a whole number in 0\.\.60"),
    ("sound-channels", lambda c: sensor(c, "ph").update(sample_s=1),
     r"sensors\[0\]\.ch: a sound meter \(sample_s\) records 6 channels"),
]


@pytest.mark.parametrize(("case", "edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_the_firmware_refuses_at_boot_what_the_loader_refuses(launch, case, edit, message):
    pty = RawPty()
    try:
        cfg = boards.firmware_config(boards.registry().get("pq-tap-01"),
                                     {"rs485": {"path": pty.path}}, MQTT)
        edit(cfg)
        fw = launch(cfg)
        assert fw.proc.wait(60) == 2, fw.log()
        fw.wait_log(message, timeout=1)
    finally:
        pty.close()


def test_the_firmware_refuses_a_stream_sharing_its_uart(launch):
    pty = RawPty()
    try:
        cfg = boards.firmware_config(boards.registry().get("pq-air-01"),
                                     {"rs485": {"path": pty.path}, "pm": {"path": pty.path}},
                                     {**MQTT, "user": "pq-air-01"})
        sensor(cfg, "pm")["uart"] = "rs485"
        fw = launch(cfg)
        assert fw.proc.wait(60) == 2, fw.log()
        fw.wait_log(r"sensors\[3\]\.uart: a streaming sensor needs its uart alone; 'rs485' "
                    r"also carries gas", timeout=1)
    finally:
        pty.close()


def test_every_firmware_case_is_a_loader_case():
    """Each firmware refusal above has its loader twin in tests/boards/test_firmware_rules.py
    (by id), so neither side can drop a rule alone."""
    src = (boards.HERE.parent / "tests" / "boards" / "test_firmware_rules.py").read_text()
    for case, _, _ in CASES:
        assert f'id="{case}"' in src, case
