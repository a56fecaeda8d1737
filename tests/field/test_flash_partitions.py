"""`station flash` and the partition table each board needs: the plan it prints (and, with
--dry-run, only prints), the refusals, and the 8 MB board's table written by the real esptool
to esp32-mock-bootloader and read back."""

from __future__ import annotations

import pytest
from bench import esptool_read_back, micropython_image
from click.testing import CliRunner

from boards import flash_layout
from quantrac.cli import main
from quantrac.field import flash as flashing

NEW = "pq-air-01"  # an air station of the default registry; only its profile's board is read


def run(*args):
    return CliRunner().invoke(main, ["station", "flash", NEW, "--port", "/dev/null",
                                     *[str(a) for a in args]])


def test_the_4mb_devkitc_keeps_its_table_and_shows_the_filesystem_budget():
    res = run("--dry-run")
    assert res.exit_code == 0, res.output
    assert "board esp32-devkitc" in res.output
    assert "partition table: the image's own, kept" in res.output
    assert "full-image updates: not on this board (no OTA partitions); new stations go on " \
           "esp32-wroom-32e-n8" in res.output
    for line in ("backlog                                       1048576 B",
                 "app slot a                                     262144 B",
                 "bundle being downloaded                        262144 B",
                 "spare                                           65536 B"):
        assert line in res.output
    assert res.output.rstrip().endswith("dry run: nothing written")


def test_the_8mb_board_gets_its_ota_table_with_the_image(tmp_path):
    image = micropython_image(tmp_path / "micropython.bin")
    res = run("--dry-run", "--board", "esp32-wroom-32e-n8", "--image", image)
    assert res.exit_code == 0, res.output
    assert ("partition table: boards/partitions/esp32-8mb-ota.csv written at 0x8000 after the "
            "image (full-image updates: ota_0 and ota_1); flash size 8 MB") in res.output
    assert "ota_1     app  ota_1   0x210000  2097152 B" in res.output
    assert "spare                                         2097152 B" in res.output
    assert "full-image updates: not on this board" not in res.output
    # files only (a station already on the board): its table is left alone
    res = run("--dry-run", "--board", "esp32-wroom-32e-n8")
    assert "partition table: left as it is" in res.output


@pytest.mark.parametrize("args, message", [
    (("--no-erase",), "writing esp32-8mb-ota.csv moves the filesystem, so the flash must be "
                      "erased first: drop --no-erase"),
    (("--chip", "esp32s3"), "carries an ESP32; --chip esp32s3 cannot be right"),
    (("--big",), "does not fit ota_0 (2097152 bytes) of esp32-8mb-ota.csv"),
])
def test_what_would_break_the_8mb_board_is_refused_before_the_port_is_opened(
        tmp_path, args, message):
    size = 0x10000 - 0x1000 + 2 * 1024 * 1024 + 1 if args == ("--big",) else 64 * 1024
    image = micropython_image(tmp_path / "micropython.bin", size)
    args = () if args == ("--big",) else args
    res = run("--board", "esp32-wroom-32e-n8", "--image", image, *args)
    assert res.exit_code != 0 and message in res.output
    assert "dry run" not in res.output and "written" not in res.output


def test_an_unknown_board_is_named():
    res = run("--dry-run", "--board", "esp32-nope")
    assert res.exit_code != 0 and "boards/pins/esp32-nope.json: no such file" in res.output


def test_esptool_writes_the_table_after_the_image_and_verifies_both(bootloader, tmp_path):
    image = micropython_image(tmp_path / "micropython.bin", 0x9000)  # reaches past 0x8000
    layout = flashing.plan("esp32-wroom-32e-n8", image)
    said: list[str] = []
    flashing.write_image(bootloader, image, layout=layout, echo=said.append)
    table = flash_layout.table_bin(flash_layout.read_table("esp32-8mb-ota.csv", 8 << 20))
    assert layout.table == table
    assert esptool_read_back(bootloader, 0x8000, len(table), tmp_path / "t.bin") == table
    # the image around the table is intact
    back = esptool_read_back(bootloader, 0x1000, 0x7000, tmp_path / "i.bin")
    assert back[4:] == image.read_bytes()[4:0x7000]
    assert any("partition table of esp32-wroom-32e-n8 written at 0x8000" in s for s in said)
    assert sum("Hash of data verified" in s for s in said) >= 2


def test_build_sizes_the_station_against_the_chosen_boards_filesystem(run_dir,
                                                                     firmware_build):
    args = ("station", "build", NEW, "--config-only", "--build-root", firmware_build,
            "--mqtt-host", "mqtt.example.vn", "--run-dir", run_dir)
    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    assert "of the 2097152 B filesystem" in res.output
    res = CliRunner().invoke(main, [str(a) for a in (*args, "--board", "esp32-wroom-32e-n8")])
    assert res.exit_code == 0, res.output
    assert "of the 4128768 B filesystem" in res.output
    res = CliRunner().invoke(main, [str(a) for a in (*args, "--board", "esp32-nope")])
    assert res.exit_code != 0 and "boards/pins/esp32-nope.json: no such file" in res.output
