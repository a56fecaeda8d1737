"""A transmitter's own error code voids its value on the station (the firmware's decoding, run
on the MicroPython unix port): the Yosemitech Y511 keeps an error byte in the high byte of the
register after its turbidity float (sensor-maps.md W3)."""

from __future__ import annotations

import json
import struct

import boards
from fw_harness import run_mpy


def y511_wire(ntu: float, error_word: int) -> str:
    """Registers 0x2602..0x2604 as the probe sends them: the float DCBA, then the error word."""
    return (struct.pack("<f", ntu) + struct.pack(">H", error_word)).hex()


def test_an_error_code_in_the_masked_bits_voids_the_value_and_other_bits_do_not(tmp_path):
    ch = boards.catalog()["yosemitech-y511"]["channels"][0]
    assert (ch["error_register"], ch["error_mask"]) == (0x2604, 0xFF00)
    cases = [{"type": "float32", "order": "DCBA", "scale": 1, "offset": 0, "err_reg": 2,
              "err_mask": 0xFF00, "wire": y511_wire(0.75, word)}
             for word in (0x0000, 0x0300, 0x00FF)]
    cases.append({"type": "uint16", "order": "ABCD", "scale": 0.01, "offset": 0, "err_reg": 1,
                  "wire": "002d0001"})  # default mask: any bit of the word
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    got = [json.loads(x) for x in run_mpy("decode_cases.py", str(path)).splitlines()]
    assert got == [0.75, None, 0.75, None]


def test_the_station_config_carries_the_error_register_and_its_mask():
    st = boards.registry().get("pq-tap-01")
    cfg = boards.firmware_config(st, {"rs485": {"path": "/dev/null"}},
                                 {"host": "h", "port": 1, "user": "u", "password": "p"})
    turb = {s["id"]: s for s in cfg["sensors"]}["turb"]
    assert turb["ch"][0]["err_reg"] == 0x2604 and turb["ch"][0]["err_mask"] == 0xFF00
