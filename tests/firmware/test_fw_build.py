"""The .mpy build (`quantrac firmware build`): every manifest module compiled, sizes reported,
and the unix port running the compiled firmware end to end."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fw_station import Firmware, Subscriber
from test_fw_broker import STATION, firmware_config, of_boot, validator

from fwtools import fwbuild
from quantrac.cli import main

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_build_compiles_every_module_for_both_targets(tmp_path):
    result = CliRunner().invoke(main, ["firmware", "build", "--out", str(tmp_path / "b"),
                                       "--json", str(tmp_path / "sizes.json")])
    assert result.exit_code == 0, result.output
    sizes = json.loads((tmp_path / "sizes.json").read_text())
    for target in ("esp32", "unix"):
        files = sizes[target]["files"]
        assert "main.py" in files and "umqtt/simple.mpy" in files
        assert {"station/app.mpy", "station/backlog.mpy", "station/uplink.mpy",
                "station/mqtt.mpy", "bus/modbus_rtu.mpy", "hal/esp32.mpy",
                "config.mpy"} <= set(files)
        assert not any(f.endswith(".py") for f in files if f != "main.py")
        assert sizes[target]["total_bytes"] == sum(files.values())
        for rel in files:
            if rel.endswith(".mpy"):
                assert (tmp_path / "b" / target / rel).read_bytes()[:2] == b"M\x06", rel
        assert f"{sizes[target]['total_bytes']:7d}  total" in result.output
        assert sizes[target]["romfs_bytes"] == (tmp_path / "b" / f"{target}.romfs").stat().st_size


ROM_IMPORT = """
import gc, os, sys, vfs
gc.collect()
a = gc.mem_alloc()
if sys.argv[2] == 'rom':
    img = bytearray(os.stat(sys.argv[1])[6])
    with open(sys.argv[1], 'rb') as f:
        f.readinto(img)
    vfs.mount(vfs.VfsRom(img), '/rom')
    sys.path.insert(0, '/rom')
    gc.collect()
    a = gc.mem_alloc()
    assert sorted(os.listdir('/rom')) == %r, os.listdir('/rom')
import station.app, station.sampler, station.uplink, station.publisher, config
for m in (station.app, station.mqtt):
    assert m.__file__.startswith('/rom/' if sys.argv[2] == 'rom' else '.'), m.__file__
gc.collect()
print(gc.mem_alloc() - a)
"""


def test_the_romfs_image_keeps_the_bytecode_off_the_heap(tmp_path):
    # What a board with a ROMFS partition does at boot, done by hand on the unix port: the
    # modules import from the image and their bytecode is not copied onto the heap.
    import subprocess

    build = fwbuild.build("unix", tmp_path)
    assert build.romfs is not None
    # each module names itself by the path it has on the board (tracebacks, __file__)
    assert b"/rom/station/app.mpy" in (build.rom_folder / "station" / "app.mpy").read_bytes()
    flashed = (build.folder / "station" / "app.mpy").read_bytes()
    assert b"station/app.mpy" in flashed and b"/rom/" not in flashed
    top = sorted({rel.split("/")[0] for rel in build.files} - {"main.py"})
    script = tmp_path / "rom_import.py"
    script.write_text(ROM_IMPORT % top)
    used = {}
    for mode in ("rom", "files"):
        proc = subprocess.run([str(fwbuild.ROOT / ".venv" / "bin" / "micropython"), str(script),
                               str(build.romfs), mode], capture_output=True, text=True,
                              cwd=build.folder, env={"MICROPYPATH": "."}, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        used[mode] = int(proc.stdout.split()[-1])
    assert used["rom"] < used["files"] * 0.7, used


def test_the_unix_port_runs_the_mpy_build(services, sensors, tmp_path):
    build = fwbuild.build("unix", tmp_path / "build").folder
    sub = Subscriber(services, f"quantrac/v1/{STATION}/#")
    fw = Firmware(firmware_config(services, *sensors), tmp_path, build=build,
                  heap="heapsize=160k")
    try:
        boot = fw.wait_log(r"boot=([0-9a-f]{8})").group(1)
        msgs = sub.wait_for(lambda m: len(of_boot(m, boot, "data")) >= 2, timeout=60)
    finally:
        code = fw.stop()
        sub.close()
    assert code == 0, fw.log()
    data = of_boot(msgs, boot, "data")
    assert len(data) >= 2, fw.log()
    for d in data:
        validator("data")(d)
    assert "station/app.py" not in fw.log()  # nothing compiled from source but main.py
