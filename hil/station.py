"""One registry station on the bench: its sensors simulated on ptys, the unix-port firmware on top.

    with SimulatedStation(registry().get("pq-air-01"), env, run_dir, sample_s=2) as st:
        st.sims["pm"].pin("pm10", 42)

Each UART the station's sensors name gets one pty: every Modbus sensor on a UART shares that
line (one `ModbusBus`), a streaming sensor has its UART to itself. The firmware reads
`run_dir/stations/<id>/config.json` (from `boards.firmware_config`) and logs to `firmware.log`
beside it.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import subprocess
import time
import zlib
from pathlib import Path
from typing import IO

import boards
from hil import signals
from hil.bus import ModbusBus
from hil.fastclock import FastClock
from hil.frame_stream import FAMILIES as FRAME_FAMILIES
from hil.frame_stream import FrameStream
from hil.modbus_slave import ModbusSlave
from hil.noise import StreetNoise
from hil.noise import profile_for as noise_profile_for
from hil.pm_stream import PmStream
from hil.ports import Port, PtyPort
from quantrac_common import paths
from quantrac_common.files import write_private

HEAP = "heapsize=256k"  # as tests/firmware/fw_station.py runs the station (source, not .mpy)
STOP_WAIT_S = 5.0


class StationSetupError(RuntimeError):
    """The station cannot be put on the bench as configured (names what is missing)."""


def station_seed(seed: int, station_id: str) -> int:
    """Per-station signal seed: two stations of one run do not show identical noise."""
    return zlib.crc32(f"{seed}:{station_id}".encode())


def micropython_binary() -> Path:
    venv = paths.ROOT / ".venv" / "bin" / "micropython"
    if venv.exists():
        return venv
    found = shutil.which("micropython")
    if found is None:
        raise StationSetupError(f"no MicroPython unix port at {venv} or on PATH; run scripts/setup")
    return Path(found)


def station_password(env: dict, station_id: str) -> str:
    where = env.get("QUANTRAC_STATION_SECRETS")
    if not where:
        raise StationSetupError("env has no QUANTRAC_STATION_SECRETS (is collector.services up?)")
    try:
        secrets = json.loads(Path(where).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StationSetupError(f"QUANTRAC_STATION_SECRETS: no such file {where}") from None
    except json.JSONDecodeError as e:
        raise StationSetupError(f"QUANTRAC_STATION_SECRETS: {where} is not JSON ({e})") from None
    entry = secrets.get(station_id) if isinstance(secrets, dict) else None
    if isinstance(entry, dict):
        entry = entry.get("password")
    if not isinstance(entry, str) or not entry:
        raise StationSetupError(f"{where}: no password for station {station_id!r}")
    return entry


def firmware_config(station: boards.Station, uarts: dict, mqtt: dict, sample_s: int | None,
                    report_s: int | None, clock: FastClock | None) -> dict:
    """boards.firmware_config, plus the fast clock's section when time is accelerated."""
    section = clock.firmware_config() if clock is not None and clock.accelerated else None
    if section is not None and "clock" in inspect.signature(boards.firmware_config).parameters:
        return boards.firmware_config(station, uarts=uarts, mqtt=mqtt, sample_s=sample_s,
                                      report_s=report_s, clock=section)
    config = boards.firmware_config(station, uarts=uarts, mqtt=mqtt, sample_s=sample_s,
                                    report_s=report_s)
    if section is not None:
        config["clock"] = section
    return config


class SimulatedStation:
    """Simulators for every sensor of `station` plus the firmware process that polls them."""

    def __init__(self, station: boards.Station, env: dict, run_dir: Path,
                 sample_s: int | None = None, report_s: int | None = None,
                 seed: int = 0, clock: FastClock | None = None,
                 firmware_dir: Path | None = None) -> None:
        """`clock`: accelerated station time shared by the simulators and the firmware (its
        config gets the `clock` section); `firmware_dir`: run another firmware tree (a
        release build) instead of the checkout's firmware/."""
        self.station = station
        self.clock = clock
        self.firmware_dir = Path(firmware_dir) if firmware_dir else paths.FIRMWARE
        self.env = env
        self.run_dir = Path(run_dir)
        self.sample_s = sample_s
        self.report_s = report_s
        self.seed = seed
        self.dir = self.run_dir / "stations" / station.id
        self.config_path = self.dir / "config.json"
        self.log_path = self.dir / "firmware.log"
        self.ports: dict[str, Port] = {}
        self.buses: dict[str, ModbusBus] = {}
        self.config: dict | None = None
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        # Built now, so a test can pin values before start(); ports come with start().
        self.uarts: dict[str, list[str]] = {}  # uart name -> sensor ids on that line
        self.noise: dict[str, StreetNoise] = {}  # sound sensor id -> the street it hears
        self.sims: dict[str, ModbusSlave | PmStream] = self._build_simulators()

    def __repr__(self) -> str:
        return f"SimulatedStation({self.station.id!r})"

    def start(self) -> None:
        """Simulators, config, then the firmware; on any failure everything started is stopped."""
        try:
            self.prepare()
            self.launch()
        except BaseException:
            self.stop()
            raise

    def prepare(self) -> Path:
        """Ptys, running simulators and the firmware config, without the firmware: its path."""
        if self.ports:
            raise RuntimeError(f"{self!r} is already prepared")
        try:
            self._start_simulators()
            self.config = self._write_config()
        except BaseException:
            self.stop()
            raise
        return self.config_path

    def _build_simulators(self) -> dict[str, ModbusSlave | PmStream]:
        source = signals.source(seed=station_seed(self.seed, self.station.id),
                                medium=signals.medium_of(self.station.kind),
                                clock=self.clock or time.time)
        sims: dict[str, ModbusSlave | PmStream] = {}
        for s in self.station.sensors():
            spec, uart = s["spec"], s["uart"]
            on_line = [sims[i] for i in self.uarts.setdefault(uart, [])]
            if spec["bus"] == "modbus":
                own = source
                if "sound" in spec:  # street noise (hil/noise.py): the sensor's `street`
                    street = self.noise[s["id"]] = StreetNoise(
                        s.get("street") or noise_profile_for(self.station.id),
                        seed=station_seed(self.seed, self.station.id))
                    own = street.source(self.clock or time.time)
                slave = ModbusSlave(spec, s.get("address", spec["modbus"]["default_address"]),
                                    own)
                clash = [o for o in on_line
                         if isinstance(o, PmStream) or o.address == slave.address]
                sims[s["id"]] = slave
            else:
                clash = on_line
                sim = FrameStream if spec["stream"]["frame"] in FRAME_FAMILIES else PmStream
                sims[s["id"]] = sim(spec, None, source)
            if clash:
                raise StationSetupError(
                    f"station {self.station.id}: sensor {s['id']} cannot share uart {uart!r} "
                    f"with {clash[0]!r} (one address per slave; a stream needs its line alone)")
            self.uarts[uart].append(s["id"])
        return sims

    def open_port(self, uart: str) -> Port:
        """The line a UART's simulators talk on: a pty here, a USB adapter on a real bench."""
        return PtyPort()

    def uart_config(self, uart: str, port: Port) -> dict:
        """What the firmware config says about a UART: the pty path on the unix port."""
        return {"path": port.path}

    def mqtt_config(self) -> dict:
        missing = [k for k in ("QUANTRAC_MQTT_HOST", "QUANTRAC_MQTT_PORT") if not self.env.get(k)]
        if missing:
            raise StationSetupError(f"env has no {', '.join(missing)} (is collector.services up?)")
        return {"host": self.env["QUANTRAC_MQTT_HOST"],
                "port": int(self.env["QUANTRAC_MQTT_PORT"]), "user": self.station.id,
                "password": station_password(self.env, self.station.id)}

    def _start_simulators(self) -> None:
        for uart, ids in self.uarts.items():
            port = self.ports[uart] = self.open_port(uart)
            first = self.sims[ids[0]]
            if isinstance(first, PmStream):
                first.port = port
                first.start()
                continue
            baud = first.model["serial"]["baud"]
            bus = self.buses[uart] = ModbusBus(port, [self.sims[i] for i in ids], baud=baud)
            bus.start()

    def build_config(self) -> dict:
        """The firmware config for the open ports (boards.firmware_config + the clock)."""
        uarts = {name: self.uart_config(name, p) for name, p in self.ports.items()}
        return firmware_config(self.station, uarts, self.mqtt_config(), self.sample_s,
                               self.report_s, self.clock)

    def _write_config(self) -> dict:
        config = self.build_config()
        # The file holds the station's MQTT password, like a board's secrets file.
        write_private(self.config_path, json.dumps(config, indent=1))
        return config

    def command(self) -> list[str]:
        return [str(micropython_binary()), "-X", HEAP, str(self.firmware_dir / "main.py"),
                str(self.config_path)]

    def launch(self) -> subprocess.Popen:
        """Start the unix-port firmware on the written config."""
        if self.config is None:
            raise RuntimeError(f"{self!r}: prepare() before launch()")
        if self.proc is not None:
            raise RuntimeError(f"{self!r}: firmware already launched (pid {self.proc.pid})")
        main = self.firmware_dir / "main.py"
        if not main.exists():
            raise StationSetupError(f"no firmware at {main}")
        env = {**os.environ, "MICROPYPATH": f"{self.firmware_dir}:{paths.MPY_DEPS}"}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(self.command(), env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        return self.proc

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """Stop the firmware cleanly, stop the simulators, close the ptys.

        SIGINT, because the unix port has no `signal` module: SIGINT arrives as KeyboardInterrupt
        and the firmware publishes its offline status, whereas SIGTERM kills it outright.
        SIGKILL after 5 s.
        """
        errors = []
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        streams = [s for s in self.sims.values() if isinstance(s, PmStream)]
        for sim in [*self.buses.values(), *streams]:
            try:
                sim.stop()
            except RuntimeError as e:
                errors.append(str(e))
        for port in self.ports.values():
            port.close()
        self.buses.clear()
        self.ports.clear()
        if errors:
            raise RuntimeError(f"{self!r}: " + "; ".join(errors))

    def __enter__(self) -> SimulatedStation:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        """The firmware's output so far (for a failing test's message)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
