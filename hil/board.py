"""The same scenarios on a real ESP32: firmware deployed with mpremote, the simulators on USB
serial adapters wired to the board's UARTs, the board's log read off its USB REPL port.

Wiring and adapters: hil/README.md ("A real board"). Not run in CI (there is no board there);
everything that is not the board itself (faults, checks, collector, database) is the code the
unix-port runs use.

The ESP32 takes its time from its RTC and NTP and ignores the fast clock, so on a board a
scenario plays in real time, starting now: a 5-hour scenario takes 5 hours.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import boards
from hil import scenario as scenarios
from hil.ports import Port, SerialPort
from hil.runner import ScenarioResult, ScenarioRun
from hil.station import SimulatedStation
from quantrac_common import paths

REPL_BAUD = 115200
DEPLOY_TIMEOUT_S = 300
STOP_WAIT_S = 15


class BoardError(RuntimeError):
    """The bench cannot drive the board as asked (names the option or the device)."""


def parse_uarts(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """["rs485=/dev/ttyUSB1", "pm=/dev/ttyUSB2"] -> {"rs485": "/dev/ttyUSB1", …}."""
    out = {}
    for item in items:
        name, sep, device = item.partition("=")
        if not sep or not name or not device:
            raise BoardError(f"--uart {item!r}: expected NAME=DEVICE, e.g. rs485=/dev/ttyUSB1")
        out[name] = device
    return out


def firmware_tree(given: Path | None) -> Path:
    """What goes on the flash: the given tree, else the release build, else the source."""
    candidates = [given] if given else [paths.ROOT / "build" / "firmware" / "esp32",
                                        paths.FIRMWARE]
    for tree in candidates:
        if (tree / "main.py").exists() or (tree / "main.mpy").exists():
            return tree
    raise BoardError(f"no firmware in {', '.join(map(str, candidates))}: run "
                     "`quantrac firmware build` or pass --firmware")


def mpremote() -> str:
    found = shutil.which("mpremote") or paths.ROOT / ".venv" / "bin" / "mpremote"
    if not Path(found).exists():
        raise BoardError("mpremote is not installed (pip install mpremote)")
    return str(found)


def deploy(port: str, tree: Path, config: Path, say: Callable[[str], None]) -> None:
    """Copy the firmware tree, umqtt and config.json to the flash root in one mpremote call."""
    args = [mpremote(), "connect", port]
    for entry in sorted(tree.iterdir()):
        if entry.name.startswith((".", "__pycache__")) or entry.suffix == ".md":
            continue
        args += ["fs", "cp", "-r", str(entry), ":", "+"]
    if not (tree / "umqtt").exists():
        args += ["fs", "cp", "-r", str(paths.MPY_DEPS / "umqtt"), ":", "+"]
    args += ["fs", "cp", str(config), ":config.json"]
    say(f"  deploying {tree} to the board on {port} …")
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BoardError(f"mpremote on {port} did not finish in {DEPLOY_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise BoardError(f"mpremote on {port} failed: {done.stderr.strip()[-400:]}")


class BoardStation(SimulatedStation):
    """A registry station whose firmware runs on the ESP32 at `repl`; its sensors are simulated
    behind the USB adapters named in `devices` (station UART name -> serial device)."""

    def __init__(self, station: boards.Station, env: dict, run_dir: Path, *, repl: str,
                 devices: dict[str, str], mqtt_host: str, wifi: dict,
                 say: Callable[[str], None] = print, **kw) -> None:
        self.tree = firmware_tree(kw.get("firmware_dir"))
        super().__init__(station, env, run_dir, **kw)
        missing = [u for u in self.uarts if u not in devices]
        if missing:
            raise BoardError(f"station {station.id} needs --uart for {', '.join(missing)} "
                             f"(its sensors sit on {', '.join(self.uarts)})")
        self.repl, self.devices, self.mqtt_host, self.wifi = repl, devices, mqtt_host, wifi
        self.say = say
        self.pins = boards.pins(boards.profile(station.profile)["board"])
        self._serial = None
        self._reader: threading.Thread | None = None
        self._halt = threading.Event()

    def open_port(self, uart: str) -> Port:
        line = self.sims[self.uarts[uart][0]].model["serial"]
        return SerialPort(self.devices[uart], line["baud"], line["bits"], line["parity"],
                          line["stop"])

    def uart_config(self, uart: str, port: Port) -> dict:
        return dict(self.pins["uarts"][uart])

    def mqtt_config(self) -> dict:
        cfg = super().mqtt_config()
        host, _, port = self.mqtt_host.partition(":")
        return {**cfg, "host": host, **({"port": int(port)} if port else {})}

    def build_config(self) -> dict:
        return {**super().build_config(), "wifi": self.wifi}

    def launch(self):
        """Deploy, soft-reset the board and read its log until stop()."""
        import serial

        deploy(self.repl, self.tree, self.config_path, self.say)
        self._serial = serial.Serial(self.repl, REPL_BAUD, timeout=0.2)
        self._serial.write(b"\r\x03\x03")  # stop whatever runs, then a soft reset runs main.py
        time.sleep(0.2)
        self._serial.write(b"\x04")
        self._halt.clear()
        self._reader = threading.Thread(target=self._read_log, name=f"board-log {self.repl}",
                                        daemon=True)
        self._reader.start()
        return None

    def _read_log(self) -> None:
        with open(self.log_path, "ab") as log:
            while not self._halt.is_set():
                try:
                    chunk = self._serial.read(256) if self._serial else b""
                except OSError as e:
                    log.write(f"\n[bench] board port {self.repl} lost: {e}\n".encode())
                    return
                if chunk:
                    log.write(chunk.replace(b"\r\n", b"\n"))
                    log.flush()

    def alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive() and \
            "Traceback" not in self.log_text()[-4000:]

    def stop(self) -> None:
        """Ctrl-C (the firmware publishes its offline status), then the simulators and ports."""
        if self._serial is not None:
            try:
                self._serial.write(b"\x03")
                deadline = time.monotonic() + STOP_WAIT_S
                while time.monotonic() < deadline and " stop " not in self.log_text()[-2000:]:
                    time.sleep(0.2)
            finally:
                self._halt.set()
                if self._reader is not None:
                    self._reader.join(5)
                self._serial.close()
                self._serial = None
        super().stop()


def check_bench(chosen: list[scenarios.Scenario], devices: dict[str, str],
                mqtt_host: str | None) -> None:
    """Every option the board runs need, named before anything starts."""
    if not mqtt_host:
        raise BoardError(
            "--mqtt-host: the board needs a broker address it can reach; the bench's Mosquitto "
            "listens on loopback only (forward it, see hil/README.md)")
    for sc in chosen:
        needed = {s["uart"] for s in sc.stations[0].sensors()}
        if missing := sorted(needed - set(devices)):
            raise BoardError(f"scenario {sc.name}: station {sc.stations[0].id} needs "
                             + " ".join(f"--uart {u}=DEVICE" for u in missing))


def run_scenarios(chosen: list[scenarios.Scenario], env: dict, run_dir: Path, repl: str,
                  devices: dict[str, str], mqtt_host: str | None, wifi_ssid: str | None,
                  wifi_password: str, firmware_dir: Path | None, keep_data: bool,
                  say: Callable[[str], None] = print) -> list[ScenarioResult]:
    """Each scenario in turn, in real time; its first station on the board, any others on
    the unix port as usual."""
    check_bench(chosen, devices, mqtt_host)
    wifi = {"ssid": wifi_ssid or "", "password": wifi_password}
    run_id = uuid.uuid4().hex[:6]
    results = []
    for sc in chosen:
        sc = scenarios.moved(sc, start=time.time(), speed=1.0)
        on_board = sc.stations[0].id

        def make(station: boards.Station, *a, on_board: str = on_board,
                 **kw) -> SimulatedStation:
            if station.id != on_board:
                return SimulatedStation(station, *a, **kw)
            return BoardStation(station, *a, repl=repl, devices=devices, mqtt_host=mqtt_host,
                                wifi=wifi, say=say, **kw)

        say(f"▶ {sc.name} on the board ({on_board}): {sc.duration_s / 3600:g} h in real time")
        result = ScenarioRun(sc, env, run_dir, run_id, firmware_dir, keep_data, say,
                             make_station=make).run()
        say(f"{'✔' if result.passed else '✘'} {sc.name}")
        results.append(result)
    return results
