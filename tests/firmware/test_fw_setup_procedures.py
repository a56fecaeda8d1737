"""The makers' address and baud procedures (sensor-maps.md §6.4) as catalog data, followed by
`quantrac sensor set-address` against an independent pymodbus peer whose registers this test
lays out by hand from the datasheets; then the unix-port firmware reads every sensor at the
address its own registers now hold, and the values reach the published record.

Procedures: the Yosemitech ID in the high byte of 0x3000, written with FC16 only; the RA-GAS
unlock (79 = 9876) before address 80 and baud code 81 (0 2400, 1 9600, 2 19200, 3 38400); the
XY-MD02 literal baud at 0x0102, taking effect after a power cycle; a generic transmitter
reached at broadcast address 0 when alone on the line; and a model file from a temporary
folder whose address and baud code take effect after a save write (0x000F = 1).
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from fw_harness import NullModem
from fw_station import BOOT, Subscriber, line_sensor, station_config, wait_records
from quirk_peer import QuirkPeer, Request, Slave

import boards
from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]

STATION = "pq-tap-02"

# A transmitter of the generic pressure class (sensor-maps.md T5 layout): address at 0x0000,
# baud code at 0x0001, level x0.01 at 0x0004; new settings apply on the save write.
SAVE_MODEL = {
    "model": "lab-save", "title": "a transmitter whose settings apply on a save write",
    "source": "this test", "confidence": "C", "bus": "modbus",
    "serial": {"baud": 9600, "bits": 8, "parity": "N", "stop": 1},
    "modbus": {"default_address": 1, "function": 3, "timeout_ms": 250, "turnaround_ms": 20,
               "setup": {"address": {"register": 0},
                         "baud": {"register": 1, "codes": {"1200": 0, "2400": 1, "4800": 2,
                                                           "9600": 3, "19200": 4}},
                         "save": [{"register": 15, "value": 1}], "takes_effect": "save"}},
    "channels": [{"param": "level", "unit": "m", "register": 4, "type": "uint16",
                  "scale": 0.01, "range": [0, 100]}],
}


def run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def layouts() -> dict[int, Slave]:
    """Factory address -> the registers the datasheet gives, written by hand, and the
    behaviour its procedure describes."""
    unlocked: set[int] = set()
    pending: dict[str, int] = {}

    # (pymodbus asks once to read the block a write touches, values None, then writes)
    def yosemitech(req: Request, regs: list[int], start: int, peer: QuirkPeer) -> None:
        # {newID, 0x00}: the ID in the high byte
        if req.values and req.fn == 16 and req.address == 0x3000:
            peer.readdress(1, req.values[0] >> 8)

    def ragas(req: Request, regs: list[int], start: int, peer: QuirkPeer) -> None:
        if req.fn == 6 and req.address == 79 and req.values == [9876]:
            unlocked.add(11)
        elif req.values and req.fn == 6 and req.address == 80 and 11 in unlocked:
            peer.readdress(11, req.values[0])

    def save(req: Request, regs: list[int], start: int, peer: QuirkPeer) -> None:
        if req.values and req.fn == 6 and req.address == 0:
            pending["address"] = req.values[0]
        elif req.fn == 6 and req.address == 15 and req.values == [1] and pending:
            peer.readdress(30, pending.pop("address"))

    return {
        # Y560: 25.0 degC, pH 7.00, NH4-N 1.5 (float32 DCBA), ID 1 in the high byte
        1: Slave(holding={0x2400: [0x0000, 0xC841], 0x2600: [0x0000, 0x0000, 0x0000, 0xE040],
                          0x2800: [0x0000, 0xC03F], 0x3000: [0x0100]},
                 silent=True, behaviour=yosemitech),
        # RA-GAS NAP5xx: CO 12 ppm, NO2 3 ppm with no error bit; 79 control, 80 address 11,
        # 81 baud code 1 (9600)
        11: Slave(input={0: [0, 12, 12, 1120, 250, 0, 3, 760, 0]},
                  holding={79: [0, 11, 1]}, behaviour=ragas),
        # XY-MD02: -20.5 degC (0xFF33), 54.6 %RH; 0x0101 address 15, 0x0102 9600 literally
        15: Slave(input={1: [0xFF33, 0x0222]}, holding={0x0101: [15, 9600]}),
        # the save model: level 12.34 m; address 30, baud code 3 (9600), save register
        30: Slave(holding={0: [30, 3, 0, 0, 1234], 15: [0]}, behaviour=save),
    }


def power_cycled(slaves: dict[int, Slave]) -> dict[int, Slave]:
    """Each slave where its own registers say it lives after a restart (decoded by hand)."""
    where = {1: slaves[1].holding[0x3000][0] >> 8, 11: slaves[11].holding[79][1],
             15: slaves[15].holding[0x0101][0], 30: slaves[30].holding[0][0]}
    return {where[a]: Slave(holding=s.holding, input=s.input, silent=s.silent)
            for a, s in slaves.items()}


def writes(peer: QuirkPeer, device: int) -> list[tuple[int, int, list[int]]]:
    return [(q.fn, q.address, q.values) for q in peer.seen(device)
            if q.fn in (6, 16) and q.values is not None]


def test_each_procedure_moves_the_sensor_and_the_firmware_reads_it_there(
        services, launch, tmp_path):
    save_file = tmp_path / "lab-save.json"
    save_file.write_text(json.dumps(SAVE_MODEL))
    with NullModem() as modem:
        # a generic T/RH/P transmitter alone on the line, its address unknown: broadcast 0
        thp = Slave(input={0: [0xFF95, 774, 10086]}, holding={256: [2]})  # -10.7, 77.4, 1008.6
        with QuirkPeer(modem.b.path, {2: thp}) as peer:
            peer.broadcasts[0] = 2
            thp.behaviour = lambda req, regs, start, p: p.readdress(2, req.values[0]) \
                if req.values and req.fn == 6 and req.address == 256 else None
            res = run("sensor", "set-address", "--port", modem.a.path, "--model", "qt-thp-485",
                      "--to", 17)
            assert res.exit_code == 0, res.output
            assert re.search(r"now at address 17, 9600 baud", res.output), res.output
            assert re.search(r"temp +-10\.7 degC .* ok", res.output), res.output
            assert writes(peer, 2) == [(6, 256, [17])] and thp.holding[256] == [17]

        slaves = layouts()
        with QuirkPeer(modem.b.path, slaves) as peer:
            res = run("sensor", "set-address", "--port", modem.a.path, "--model",
                      "yosemitech-y560", "--from", 1, "--to", 21)
            assert res.exit_code == 0 and re.search(r"ph +7 pH .* ok", res.output), res.output
            res = run("sensor", "set-address", "--port", modem.a.path, "--model",
                      "ra-gas-sensor-mb-nap5xx", "--from", 11, "--to", 22, "--set-baud", 19200)
            assert res.exit_code == 0, res.output
            assert "now at address 22, 19200 baud" in res.output and \
                re.search(r"co +12 ppm .* ok", res.output), res.output
            res = run("sensor", "set-address", "--port", modem.a.path, "--model", "xy-md02",
                      "--from", 15, "--to", 23, "--set-baud", 4800)
            assert res.exit_code == 0 and "takes effect after a power cycle" in res.output, \
                res.output
            res = run("sensor", "set-address", "--port", modem.a.path, "--model", save_file,
                      "--from", 30, "--to", 24, "--set-baud", 19200)
            assert res.exit_code == 0, res.output
            assert re.search(r"level +12\.34 m .* ok", res.output), res.output

            # what went on the wire, and what each peer register now holds
            assert writes(peer, 1) == [(16, 0x3000, [0x1500])]  # FC16 only, 21 in the high byte
            assert writes(peer, 11) == [(6, 79, [9876]), (6, 80, [22]), (6, 81, [2])]
            assert writes(peer, 15) == [(6, 0x0101, [23]), (6, 0x0102, [4800])]
            assert writes(peer, 30) == [(6, 0, [24]), (6, 1, [4]), (6, 15, [1])]
            assert slaves[11].holding[79] == [9876, 22, 2] and slaves[15].holding[0x0101] == \
                [23, 4800] and slaves[30].holding[0][:2] == [24, 4]

        # a power cycle: every sensor where its registers say, the XY-MD02 too
        moved = power_cycled(slaves)
        moved[17] = Slave(input=thp.input, holding=thp.holding)
        assert sorted(moved) == [17, 21, 22, 23, 24]
        catalog = boards.catalog()
        sensors = [line_sensor(sid, spec, addr) for sid, spec, addr in [
            ("y", catalog["yosemitech-y560"], 21), ("ra", catalog["ra-gas-sensor-mb-nap5xx"], 22),
            ("xy", catalog["xy-md02"], 23), ("lab", boards.model_file(save_file), 24),
            ("th", catalog["qt-thp-485"], 17)]]
        with QuirkPeer(modem.b.path, moved), \
                Subscriber(services, f"quantrac/v1/{STATION}/data") as sub:
            fw = launch(station_config(services, STATION, {"rs485": modem.a.path}, sensors,
                                       sample_s=1, report_s=4))
            _msgs, got = wait_records(sub, fw.wait_log(BOOT).group(1), 2)
    assert len(got) >= 2, fw.log()
    values = {p: v[0] for p, v in got[-1]["d"].items()}
    assert values == {"y_temp": 25.0, "y_ph": 7.0, "y_nh4": 1.5, "ra_co": 12, "ra_no2": 3000,
                      "xy_temp": -20.5, "xy_rh": 54.6, "lab_level": 12.34, "th_temp": -10.7,
                      "th_rh": 77.4, "th_pressure": 1008.6}, values


@pytest.mark.parametrize("args, says", [
    (["--model", "qt-nope", "--from", 1, "--to", 2], "model 'qt-nope' is not in boards/catalog"),
    (["--model", "xy-md02", "--from", 1, "--to", 248], "1<=x<=247"),
    (["--model", "xy-md02", "--from", 0, "--to", 5], "1<=x<=247"),
    (["--model", "greystone-cmd5b4", "--from", 1, "--to", 2],
     "greystone-cmd5b4: the catalog holds no address or baud procedure for this model "
     "(modbus.setup)"),
    (["--model", "dfrobot-sen0662", "--from", 87, "--to", 2],
     "dfrobot-sen0662: the catalog holds no address procedure for this model "
     "(modbus.setup.address)"),
    (["--model", "yosemitech-y504", "--from", 1, "--set-baud", 19200],
     "yosemitech-y504: the catalog holds no baud procedure for this model (modbus.setup.baud);"
     " it runs at its fixed 9600 baud"),
    (["--model", "ra-gas-sensor-mb-nap5xx", "--from", 1, "--set-baud", 4800],
     "4800 baud is not in its code table (it can be set to 2400, 9600, 19200, 38400)"),
    (["--model", "yosemitech-y560", "--to", 3],
     "yosemitech-y560 has no broadcast set-up address (modbus.setup.broadcast)"),
    (["--model", "xy-md02", "--from", 1], "give --to ADDRESS, --set-baud BPS or both"),
])
def test_bad_set_up_arguments_are_named_before_anything_is_sent(args, says):
    modem = NullModem()
    try:
        res = run("sensor", "set-address", "--port", modem.a.path, *args)
    finally:
        modem.close()
    assert res.exit_code != 0 and says in res.output, res.output
