"""A unix-port station flashed for over-the-air updates, as `quantrac station flash` leaves a
board: main.py and the loader (slots.mpy) at the root, the first bundle in ota/a, the public
key in ota/key; and the supervisor that restarts its process whenever it ends, like a board
after a reset."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from fw_harness import MICROPYTHON

from quantrac import fwbundle


def install(folder: Path, build: Path, bundle: fwbundle.Bundle, public_modulus: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(build / "main.py", folder / "main.py")
    shutil.copy(build / "slots.mpy", folder / "slots.mpy")
    fwbundle.install_slot(bundle, folder / "ota", public_modulus)


class Supervised:
    """The station's process, started again whenever it ends, like a board after a reset."""

    def __init__(self, folder: Path) -> None:
        """folder: main.py, slots.mpy, config.json and ota/ (install())."""
        self.folder = folder
        self.log_path = folder / "firmware.log"
        self.exits: list[int] = []
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._start()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(MICROPYTHON), "-X", "heapsize=256k", str(self.folder / "main.py"),
                 str(self.folder / "config.json")],
                env={**os.environ, "MICROPYPATH": str(self.folder)}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                code = self.proc.poll()
                if code is not None and not self._stop.is_set():
                    self.exits.append(code)
                    self._start()
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        with self._lock:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
