"""What the technician's tools meet in these tests instead of hardware: an emulated MicroPython
board on a pty (mpremote's real protocol code talks to it), esp32-mock-bootloader on a pty
(esptool's real protocol code talks to it), hil simulators on ptys for the sensors, and a real
Mosquitto + InfluxDB of each test's own (so accounts added here never reach the session's).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emulated_board import EmulatedBoard

import boards
from collector import services as svc


@pytest.fixture
def registry_copy(tmp_path) -> Path:
    """A copy of the Phú Quốc registry to add stations to (the real one is never touched)."""
    path = tmp_path / "registry" / "island.json"
    path.parent.mkdir()
    shutil.copy(boards.HERE / "registry" / "phu-quoc.json", path)
    return path


@pytest.fixture
def stack(run_dir):
    """Our Mosquitto and InfluxDB in this test's run folder; its env."""
    try:
        yield svc.up(run_dir)
    finally:
        svc.down(run_dir)


@pytest.fixture
def board(tmp_path):
    """An emulated board with an empty flash."""
    with EmulatedBoard(tmp_path / "flash") as b:
        yield b


@pytest.fixture
def bootloader(tmp_path):
    """esp32-mock-bootloader's ROM bootloader on a pty: the path esptool is given."""
    port_file = tmp_path / "bootloader.port"
    env = {**os.environ, "ESP32_MOCK_BOOTLOADER_STATE_DIR": str(tmp_path / "mock-state")}
    # its log goes to a file: a pipe nobody reads would fill and stall the chip mid-command
    log = (tmp_path / "bootloader.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from esp32_mock_bootloader.cli "
                             "import main; sys.exit(main())", "run", "--pty", "--chip", "esp32",
                             "--port-file", str(port_file)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("mock bootloader did not start: "
                                     f"{(tmp_path / 'bootloader.log').read_text()!r}")
            time.sleep(0.05)
        yield port_file.read_text().strip()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def firmware_build(tmp_path_factory) -> Path:
    """The release build for an ESP32 (`quantrac firmware build`), made once per session: the
    build root; the files are in its esp32/ folder (bytecode the unix port runs too)."""
    from fwtools import fwbuild

    root = tmp_path_factory.mktemp("firmware-build")
    fwbuild.build("esp32", root)
    return root
