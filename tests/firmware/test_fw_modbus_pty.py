"""The firmware's Modbus RTU master over a real pty against an independent slave (pymodbus).

Two raw ptys joined like a cable: the unix-port firmware opens one end, pymodbus's RTU serial
server the other. Register contents are computed here with struct in each catalog word order.
"""

from __future__ import annotations

import json

import pytest
from fw_harness import ModbusServer, NullModem, registers, run_mpy, wire_bytes

DEAD_TIMEOUT_MS = 200
TURNAROUND_MS = 100
CYCLES = 12
CYCLE_MS = 400

# address -> (holding registers, input registers); what the firmware must decode from them
GAS = (registers(wire_bytes(123.4, "float32", "CDAB") + wire_bytes(0.75, "float32", "CDAB")
                 + wire_bytes(-123456, "int32", "BADC") + wire_bytes(3000000000, "uint32", "DCBA")),
       [])
THP = ([], registers(wire_bytes(-52, "int16", "ABCD") + wire_bytes(655, "uint16", "ABCD")
                     + wire_bytes(10132, "uint16", "ABCD")))
PH = (registers(wire_bytes(712, "uint16", "ABCD") + wire_bytes(2, "uint16", "ABCD")
                + wire_bytes(2875, "int16", "ABCD") + wire_bytes(2, "uint16", "ABCD")), [])


def f32(x: float) -> float:
    import struct

    return struct.unpack(">f", struct.pack(">f", x))[0]


EXPECTED = {
    "gas": [f32(123.4), f32(0.75), -123456 * 0.001, 3000000000 * 0.1],
    "thp": [-5.2, 65.5, 1013.2],
    "ph": [7.12, 28.75],
}


def sensor(id_, addr, fn, channels, **extra):
    return {"id": id_, "bus": "modbus", "uart": "rs485", "addr": addr, "fn": fn,
            "timeout_ms": 250, "turnaround_ms": TURNAROUND_MS, "ch": channels, **extra}


def config(path: str) -> dict:
    ch = lambda p, reg, typ, **kw: {"param": p, "unit": "u", "reg": reg, "type": typ,  # noqa: E731
                                    "range": [-1e12, 1e12], **kw}
    return {
        "station": "pq-test-01",
        "mqtt": {"host": "127.0.0.1", "user": "pq-test-01", "password": "unused"},
        "uarts": {"rs485": {"path": path}},
        "sensors": [
            sensor("gas", 1, 3, [ch("so2", 0, "float32", order="CDAB"),
                                 ch("co", 2, "float32", order="CDAB"),
                                 ch("no2", 4, "int32", order="BADC", scale=0.001),
                                 ch("o3", 6, "uint32", order="DCBA", scale=0.1)]),
            sensor("dead", 7, 3, [ch("tsp", 16, "uint32")], timeout_ms=DEAD_TIMEOUT_MS,
                   tries=2, offline_after=2, offline_min_s=2, offline_max_s=4),
            sensor("thp", 2, 4, [ch("temp", 0, "int16", scale=0.1),
                                 ch("rh", 1, "uint16", scale=0.1),
                                 ch("pressure", 2, "uint16", scale=0.1)]),
            sensor("ph", 4, 3, [ch("ph", 0, "uint16", dec_reg=1),
                                ch("temp", 2, "int16", dec_reg=3)]),
        ],
    }


@pytest.fixture
def line():
    modem = NullModem()
    server = None
    try:
        server = ModbusServer(modem.b.path, {1: GAS, 2: THP, 4: PH})
        yield modem.a.path
    finally:
        if server is not None:
            server.stop()
        modem.close()


def test_master_reads_pymodbus_and_skips_a_dead_slave(line, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(line)))
    out = run_mpy("modbus_poll.py", str(path), str(CYCLES), str(CYCLE_MS), timeout=120)
    polls = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    by_id: dict[str, list[dict]] = {}
    for p in polls:
        by_id.setdefault(p["id"], []).append(p)
    assert {k: len(v) for k, v in by_id.items()} == {"gas": CYCLES, "dead": CYCLES,
                                                     "thp": CYCLES, "ph": CYCLES}

    # every read of a live slave succeeds and decodes exactly what the registers hold
    for sid, want in EXPECTED.items():
        for p in by_id[sid]:
            assert p["ok"] and p["online"], p
            assert p["v"] == pytest.approx(want, rel=1e-12), sid

    dead = by_id["dead"]
    assert not any(p["ok"] for p in dead)
    # marked offline after offline_after=2 failed polls, and stays so
    assert [p["online"] for p in dead[:2]] == [True, False]
    assert all(not p["online"] for p in dead[2:])
    # while offline it is probed once per back-off interval (2 s, then 4 s), not every cycle:
    # the polls that cost the line anything are few, and each costs at most one timeout
    offline = dead[2:]
    probes = [p for p in offline if p["ms"] >= DEAD_TIMEOUT_MS]
    assert 1 <= len(probes) <= 3, [p["ms"] for p in offline]
    skipped = [p for p in offline if p["ms"] < DEAD_TIMEOUT_MS]
    assert len(skipped) >= len(offline) - 3
    # generous margins (noisy machines): a probe is one try (turnaround + timeout), never two
    one_try = TURNAROUND_MS + DEAD_TIMEOUT_MS
    assert all(p["ms"] < 2 * one_try for p in probes), [p["ms"] for p in probes]
