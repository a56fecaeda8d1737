"""From a blank board to a commissioned station, through the commands a technician types.

esptool talks to esp32-mock-bootloader (its ROM protocol: sync, stub, erase, write, MD5 verify,
read back); mpremote talks to the emulated board (raw REPL; the board's code runs in the
MicroPython unix port over a folder standing for its flash); the board's UARTs are ptys with the
hil simulators on the other end; the broker is our real Mosquitto.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from bench import esptool_read_back, micropython_image
from click.testing import CliRunner

from hil.station import SimulatedStation
from quantrac.cli import main
from quantrac.field import bundle, registry_file, workspace

NEW = "pq-air-17"
PINS = {"gas": {"so2": 12.5, "co": 1.25, "no2": 33.7, "o3": 48.2},
        "thp": {"temp": 29.3, "rh": 77.4, "pressure": 1008.6},
        "tsp": {"tsp": 87.6}, "pm": {"pm1": 17, "pm2_5": 25, "pm10": 42}}


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args):
    res = run(*args)
    assert res.exit_code == 0, res.output
    return res.output


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def sims(stack, run_dir):
    """Simulators for an air station's sensors, pinned; the ptys the board's UARTs open."""
    made = []

    def start(station) -> SimulatedStation:
        sim = SimulatedStation(station, stack, run_dir)
        for sensor, values in PINS.items():
            for param, value in values.items():
                sim.sims[sensor].pin(param, value)
        made.append(sim)
        return sim

    yield start
    for sim in made:
        sim.stop()


def new_station(registry: Path, station: str = NEW, *extra: str) -> None:
    ok("station", "new", station, "--name", "Gành Dầu", "--profile", "air-standard",
       "--lat", 10.375, "--lon", 103.845, "--registry", registry, *extra)


def configure(registry: Path, run_dir: Path, build: Path, sim: SimulatedStation,
              station: str = NEW, tls: bool = False) -> None:
    ok("station", "credentials", station, "--registry", registry, "--run-dir", run_dir,
       *(["--tls"] if tls else []))
    sim.prepare()  # the simulators run from here on; the board's UARTs open their ptys
    ports = [a for name, p in sim.ports.items() for a in ("--port", f"{name}={p.path}")]
    out = ok("station", "build", station, "--config-only", "--build-root", build, *ports,
             "--registry", registry, "--run-dir", run_dir)
    assert "config.json" in out and f"total for {station}" in out


@pytest.mark.services
@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_blank_board_is_flashed_and_commissioned_in_one_sitting(
        stack, run_dir, registry_copy, board, bootloader, firmware_build, sims, tmp_path, tls):
    new_station(registry_copy)
    sim = sims(registry_file.load(registry_copy).get(NEW))
    configure(registry_copy, run_dir, firmware_build, sim, tls=tls)
    # what an older install left on the board: a module this build no longer has, and the
    # source of one it ships compiled (a .py would be imported before the .mpy)
    (board.flash / "values").mkdir()
    (board.flash / "values" / "stale.py").write_text("raise ImportError('stale')\n")
    (board.flash / "boot.py").write_text("# MicroPython's own boot.py\n")
    image = micropython_image(tmp_path / "micropython-esp32.bin")

    out = ok("station", "flash", NEW, "--port", board.path, "--image", image,
             "--bootloader-port", bootloader, "--registry", registry_copy, "--run-dir", run_dir,
             "--build-root", firmware_build)
    assert "Hash of data verified" in out  # esptool's own check, on the mock chip
    assert esptool_read_back(bootloader, 0x1000, image.stat().st_size,
                             tmp_path / "back.bin") == image.read_bytes()
    assert "values/stale.py removed" in out
    station_dir = workspace.station_dir(run_dir, NEW)
    expected = {p.relative_to(firmware_build / "esp32").as_posix(): sha(p)
                for p in (firmware_build / "esp32").rglob("*") if p.is_file()}
    expected.update({"config.json": sha(station_dir / "config.json"),
                     "secrets.json": sha(station_dir / "secrets.json")})
    if tls:  # the station's certificate and our CA go on the board, and its config uses them
        expected.update({f"tls/{n}": sha(station_dir / "tls" / n)
                         for n in workspace.BOARD_TLS.values()})
        assert json.loads((station_dir / "config.json").read_text())["mqtt"]["tls"] == "tls"
    on_board = {p.relative_to(board.flash).as_posix(): sha(p)
                for p in board.flash.rglob("*") if p.is_file() and "data" not in p.parts}
    assert on_board == {**expected, "boot.py": sha(board.flash / "boot.py")}
    assert "board restarted into its firmware" in out

    res = run("station", "commission", NEW, "--port", board.path, "--by", "Trần Văn An",
              "--registry", registry_copy, "--run-dir", run_dir)
    assert res.exit_code == 0, res.output + board.console_text()[-3000:]
    sheets = sorted((station_dir / "sheets").glob("commission-*.json"))
    assert len(sheets) == 1 and sheets[0].with_suffix(".txt").exists()
    sheet = json.loads(sheets[0].read_text())
    assert sheet["result"] == "PASS" and sheet["by"] == "Trần Văn An"
    live = {(s["id"], c["param"]): c["value"] for s in sheet["sensors"] for c in s["channels"]}
    pinned = {(s, p): v for s, values in PINS.items() for p, v in values.items()}
    assert live.keys() == pinned.keys()
    for key, value in pinned.items():
        assert live[key] == pytest.approx(value, rel=1e-4), key
    text = sheets[0].with_suffix(".txt").read_text()
    for (sensor, param), value in pinned.items():  # every sensor, every value, on the page
        assert sensor in text
        assert re.search(rf"\b{param} +{re.escape(f'{round(float(value), 4):g}')} ", text), param
    assert "test record reached the operator" in text and "FAIL" not in text

    again = ok("station", "flash", NEW, "--port", board.path, "--no-restart",
               "--registry", registry_copy, "--run-dir", run_dir, "--build-root", firmware_build)
    assert "written" not in again.replace("written, sha256", "")
    assert again.count("unchanged") == len(expected)


@pytest.mark.services
def test_commissioning_names_every_fault_it_finds(stack, run_dir, registry_copy, board,
                                                  firmware_build, sims):
    # The board polls the dust sensor at 9, where nothing answers; the thermometer reads
    # above its range; the password was rotated after the board got its secrets.
    new_station(registry_copy, NEW, "--address", "tsp=9")
    sim = sims(registry_file.load(registry_copy).get("pq-air-01"))  # dust sensor at 3
    sim.sims["thp"].pin("temp", 85.0)
    configure(registry_copy, run_dir, firmware_build, sim)
    shutil.copytree(firmware_build / "esp32", board.flash, dirs_exist_ok=True)
    station_dir = workspace.station_dir(run_dir, NEW)
    shutil.copy(station_dir / "secrets.json", board.flash / "secrets.json")
    # The firmware does not read secrets.json yet: its config gets the password too, so the
    # board boots into the running station that commissioning has to interrupt.
    cfg = json.loads((station_dir / "config.json").read_text())
    cfg["mqtt"]["password"] = json.loads((station_dir / "secrets.json").read_text())["mqtt"][
        "password"]
    (board.flash / "config.json").write_text(json.dumps(cfg))
    ok("station", "credentials", NEW, "--rotate", "--registry", registry_copy,
       "--run-dir", run_dir)
    booted = ok("station", "console", "--port", board.path, "--reset", "--seconds", 2)
    assert f"boot quantrac firmware 0.1.0 station={NEW}" in booted

    res = run("station", "commission", NEW, "--port", board.path, "--sensor-wait", 2,
              "--registry", registry_copy, "--run-dir", run_dir)
    assert res.exit_code == 1, res.output
    sheet = json.loads(next((station_dir / "sheets").glob("*.json")).read_text())
    by_id = {s["id"]: s for s in sheet["sensors"]}
    assert sheet["result"] == "FAIL"
    assert by_id["tsp"]["result"] == "FAIL" and "no reading: timeout" in by_id["tsp"]["why"]
    temp = next(c for c in by_id["thp"]["channels"] if c["param"] == "temp")
    assert temp["value"] == pytest.approx(85.0) and temp["why"] == "outside the range -40 .. 80"
    assert by_id["thp"]["result"] == "FAIL"
    assert by_id["gas"]["result"] == by_id["pm"]["result"] == "PASS"
    checks = {c["check"]: c for c in sheet["checks"]}
    login = checks[f"mqtt login as {NEW}"]
    assert login["result"] == "FAIL" and "not authorized (wrong password" in login["why"]
    assert checks["test record published"]["result"] == "FAIL"
    assert "no reading: timeout" in res.output and "wrong password" in res.output


def test_flash_refuses_what_cannot_go_on_a_board(registry_copy, run_dir, tmp_path,
                                                 firmware_build):
    new_station(registry_copy)
    not_an_image = tmp_path / "notes.bin"
    not_an_image.write_bytes(b"PK\x03\x04 a zip, not firmware")
    args = ("--port", "/dev/null", "--registry", registry_copy, "--run-dir", run_dir)
    res = run("station", "flash", NEW, *args, "--build-root", tmp_path / "nowhere")
    assert res.exit_code != 0 and "no firmware build" in res.output
    res = run("station", "flash", NEW, *args, "--build-root", firmware_build)
    assert res.exit_code != 0 and f"run `quantrac station build {NEW}`" in res.output
    ok("station", "build", NEW, "--config-only", "--build-root", firmware_build, "--mqtt-host",
       "mqtt.example.vn", "--registry", registry_copy, "--run-dir", run_dir)
    cfg = json.loads((workspace.station_dir(run_dir, NEW) / "config.json").read_text())
    assert cfg["uarts"]["rs485"] == {"baud": 9600, "bits": 8, "parity": "N", "stop": 1, "id": 1,
                                     "tx": 17, "rx": 16, "de": 4, "rxbuf": 512}  # ESP32 pins
    assert "password" not in json.dumps(cfg)
    res = run("station", "flash", NEW, *args, "--build-root", firmware_build)
    assert res.exit_code != 0 and f"run `quantrac station credentials {NEW}`" in res.output
    res = run("station", "build", NEW, "--config-only", "--port", "rs458=/dev/ttyUSB0",
              "--mqtt-host", "h", "--registry", registry_copy, "--run-dir", run_dir)
    assert res.exit_code != 0 and "has no UART 'rs458' (it has rs485, pm)" in res.output
    ok("station", "credentials", NEW, "--registry", registry_copy, "--run-dir", run_dir)
    res = run("station", "flash", NEW, *args, "--build-root", firmware_build,
              "--image", not_an_image)
    assert res.exit_code != 0 and "not an ESP firmware image" in res.output


def test_the_console_shows_the_board_booting_its_firmware(board):
    (board.flash / "main.py").write_text("print('quantrac firmware says hello')\n")
    res = run("station", "console", "--port", board.path, "--seconds", 2, "--reset")
    assert res.exit_code == 0, res.output
    assert "MPY: soft reboot" in res.output
    assert "quantrac firmware says hello" in res.output
    assert board.resets == 1


def test_build_compiles_the_firmware_and_sizes_every_file(run_dir, tmp_path):
    out = ok("station", "build", "pq-air-03", "--build-root", tmp_path / "build",
             "--mqtt-host", "mqtt.example.vn", "--run-dir", run_dir)
    files = bundle.firmware_files(tmp_path / "build" / "esp32")
    assert "main.py" in files and sum(name.endswith(".mpy") for name in files) > 10
    for remote, path in {**files, "config.json":
                         workspace.station_dir(run_dir, "pq-air-03") / "config.json"}.items():
        assert re.search(rf"^ *{path.stat().st_size}  {re.escape(remote)}$", out, re.M), remote
    assert re.search(r"total for pq-air-03 \(\d+\.\d % of the 2097152 B filesystem\)", out)
