"""A simulated station flashed for over-the-air updates, under a supervisor.

Like `quantrac station flash` leaves a board for OTA: the loader (`main.py`, `slots.mpy`) at
the root of its folder, the installed bundle in slot a (`ota/a/`), the operations centre's
public key in `ota/key`; the firmware runs with only that folder on its path, as a board runs
from its flash (no checkout modules behind it).

The supervisor plays the power supply and the reset line: whenever the process ends (exit
code 3 after an update's switch, a traceback when new code raises at boot) it starts it again,
as an ESP32 resets. Each start rewrites the config's `clock` section with the bench clock's
time, because a board's RTC keeps the time across a reset: the station's clock goes on, not
back to the scenario's start. `power_off()`/`power_on()` take the station off the air for a
while (SIGINT: its clean offline status; its broker session stays, as a board's does).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

from fwtools import fwbundle
from hil.ota_kit import Kit
from hil.station import HEAP, STOP_WAIT_S, SimulatedStation, micropython_binary

MAX_RESTARTS = 12  # a boot loop beyond this is a station that does not run: given up


class OtaStation(SimulatedStation):
    def __init__(self, *args: object, kit: Kit, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kit = kit
        self.exits: list[int] = []  # exit codes of the runs that ended on their own
        self.gave_up = False
        self._off = False
        self._lock = threading.RLock()
        self._halt = threading.Event()
        self._supervisor: threading.Thread | None = None

    def prepare(self) -> Path:
        path = super().prepare()
        fwbundle.install_board(self.dir, self.kit.build, self.kit.installed, self.kit.public)
        return path

    def command(self) -> list[str]:
        return [str(micropython_binary()), "-X", HEAP, str(self.dir / "main.py"),
                str(self.config_path)]

    def launch(self) -> subprocess.Popen:
        with self._lock:
            self._spawn()
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, daemon=True,
                                                name=f"ota-supervisor-{self.station.id}")
            self._supervisor.start()
        return self.proc

    def _spawn(self) -> None:
        self.config = self._write_config()  # the clock goes on from now (a board's RTC)
        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(self.command(), env={**os.environ,
                                                          "MICROPYPATH": str(self.dir)},
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def _supervise(self) -> None:
        while not self._halt.wait(0.05):
            with self._lock:
                if self._off or self.gave_up or self.proc is None:
                    continue
                code = self.proc.poll()
                if code is None:
                    continue
                self.exits.append(code)
                if len(self.exits) > MAX_RESTARTS:
                    self.gave_up = True
                    continue
                self._spawn()

    def alive(self) -> bool:
        """Supervised and not given up (a station the scenario powered off counts as alive:
        it is off by design)."""
        return self._supervisor is not None and not self.gave_up

    def power_off(self) -> None:
        with self._lock:
            self._off = True
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()

    def power_on(self) -> None:
        with self._lock:
            self._off = False
            self._spawn()

    def stop(self) -> None:
        self._halt.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
        super().stop()
