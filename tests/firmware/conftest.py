"""Fixtures of the firmware tests that run the whole unix-port firmware."""

from __future__ import annotations

import json

import pytest
from fw_harness import FrameWriter, ModbusServer, NullModem, RawPty, pms_frame, pms_words
from fw_station import Firmware
from test_fw_broker import GAS_REGISTERS, PM10

import boards


@pytest.fixture
def sensors():
    """The gas analyser on a pty cable (pymodbus) and a PMS stream on its own pty."""
    modem, pm, server, writer = NullModem(), RawPty(), None, None
    try:
        server = ModbusServer(modem.b.path, {1: (GAS_REGISTERS, [])})
        writer = FrameWriter(pm, lambda: pms_frame(pms_words(PM10)), period_s=1.0)
        yield modem.a.path, pm.path
    finally:
        if writer is not None:
            writer.stop()
        if server is not None:
            server.stop()
        modem.close()
        pm.close()


@pytest.fixture
def launch(tmp_path):
    started: list[Firmware] = []

    def start(cfg: dict) -> Firmware:
        fw = Firmware(cfg, tmp_path)
        started.append(fw)
        return fw

    yield start
    for fw in started:
        fw.stop()




@pytest.fixture
def model_file(tmp_path):
    """make(doc): the model `doc` written as a file in a temporary catalog folder and loaded
    as boards loads a model file (its checks included)."""
    folder = tmp_path / "catalog"
    folder.mkdir()

    def make(doc: dict) -> dict:
        path = folder / f"{doc['model']}.json"
        path.write_text(json.dumps(doc))
        return boards.model_file(path)

    return make
