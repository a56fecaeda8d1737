"""The on-flash backlog: hard kills while it writes, power cuts at every byte, a real LittleFS.

Runs the firmware's own Backlog on the unix port (tests/firmware/mpy/backlog_*.py); nothing
here imports firmware code into CPython.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

from fw_harness import HEAP, MICROPYTHON, MPY_TESTS, mpy_env, run_mpy
from v1_backlog import v1_cursor, v1_header, v1_slot

KILLS = 100


def check(folder) -> dict:
    return json.loads(run_mpy("backlog_kill.py", str(folder), "check").splitlines()[-1])


def test_hard_kills_while_appending_lose_at_most_the_record_being_written(tmp_path):
    # 100 times: start an appender on the same backlog, kill -9 it at a random moment (while
    # it appends, commits, rotates segment files or drops the oldest), then open the backlog
    # and read every pending record. Small capacity, so rotation and the bound happen often.
    rng = random.Random(20251121)
    folder = tmp_path / "data"
    last_appended = -1           # the newest record an appender reported as stored
    committed = 0                # records the cursor has passed, as far as we know
    appended_total = 0
    for kill in range(KILLS):
        proc = subprocess.Popen(
            [str(MICROPYTHON), "-X", HEAP, str(MPY_TESTS / "backlog_kill.py"), str(folder),
             "append", str(last_appended + 1)],
            env=mpy_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)
        first = b""
        try:  # from "ready" on: the interpreter's start takes long on a loaded machine. Read
            # byte by byte off the pipe: a buffered readline would keep lines communicate()
            # (which reads the pipe itself) then never sees
            while not first.endswith(b"\n") and (byte := os.read(proc.stdout.fileno(), 1)):
                first += byte
            time.sleep(rng.uniform(0.03, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
            out = (first + out).decode()
        assert proc.returncode == -signal.SIGKILL, out
        lines = out.split("\n")[:-1]  # a line the kill cut short was not reported
        for line in lines:
            if line.startswith("A "):
                last_appended = int(line[2:])
                appended_total += 1
            elif line.startswith("C "):
                committed += int(line[2:])
            elif line != "ready":
                raise AssertionError(f"kill {kill}: appender said {line!r}")
        got = check(folder)
        nums = got["nums"]
        assert None not in nums, f"kill {kill}: a pending record fails its CRC: {got}"
        if not nums:
            continue
        first, last = nums[0], nums[-1]
        assert nums == list(range(first, last + 1)), f"kill {kill}: not in order or a gap"
        # at most the record being written is lost, and none appears that was never written
        assert last in (last_appended, last_appended + 1), (kill, last, last_appended)
        last_appended = last
        # everything before the first pending record was committed or dropped (and counted);
        # a commit killed before it reported may have happened or not
        assert first - got["dropped"] in (committed, committed + 5), (kill, got, committed)
        committed = first - got["dropped"]
    assert appended_total > KILLS  # the kills really landed while appending
    assert got["dropped"] > 0      # and the bound was exercised


def test_power_cut_at_every_byte_of_a_record(tmp_path):
    out = run_mpy("backlog_cut.py", str(tmp_path / "cut"))
    results = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert results and all(r.startswith("PASS") for r in results), out


def test_backlog_on_littlefs(tmp_path):
    out = run_mpy("backlog_lfs.py")
    assert "PASS" in out and "FAIL" not in out, out


# ---- a station updated in the field: the old record format on flash ---------------------------

def test_a_backlog_in_the_old_format_drains_after_an_update(tmp_path):
    # what the firmware before the compact records left: two segments of 5-minute records,
    # the first two already sent (cursor), 3 dropped earlier; the last record torn by the
    # power cut of the update
    folder = tmp_path / "data"
    (folder / "backlog").mkdir(parents=True)
    t0 = 1763755200
    header = v1_header([("so2", "ppb"), ("temp", "degC")])
    values = [((1235 + i, 1, 0, 0, 30), (-3105, 2, 0, 2, 20)) for i in range(10)]
    values[4] = ((0, 7, 2, 4, 0), (2150, 2, 1, 0, 30))  # so2 offline, temp calibrating
    slots = [v1_slot(t0 + 300 * i, 300, 8 if i == 7 else 0, list(c))
             for i, c in enumerate(values)]
    (folder / "backlog" / "00000007.seg").write_bytes(header + b"".join(slots[:6]))
    (folder / "backlog" / "00000008.seg").write_bytes(header + b"".join(slots[6:]) +
                                                      v1_slot(t0 + 3000, 300, 0, [(1, 0, 0, 0, 1)] * 2)[:9])
    (folder / "backlog" / "cursor").write_bytes(v1_cursor(7, 2, 3))

    out = run_mpy("backlog_v1.py", str(folder), "3").splitlines()
    summary = json.loads(out[-1])
    msgs = [json.loads(x) for x in out if x.startswith('{"v"')]
    records = [r for m in msgs for r in m["r"]]
    assert summary == {"found": [8, 3, 1], "left": 0, "corrupt": 0}
    old = records[:8]
    assert [r["t"] for r in old] == [t0 + 300 * i for i in range(2, 10)]  # none lost, in order
    assert all(r["p"] == 300 for r in records)
    for i, r in enumerate(old, start=2):
        if i == 4:
            assert r["d"] == {"so2": [None, "ppb", 2, 0, 4], "temp": [21.5, "degC", 1, 30, 0]}
        else:
            assert r["d"] == {"so2": [(1235 + i) / 10, "ppb", 0, 30, 8 if i == 7 else 0],
                              "temp": [-31.05, "degC", 0, 20, 2 | (8 if i == 7 else 0)]}
    # then the new firmware's own records, in the new format, after the old ones
    assert [r["t"] for r in records[8:]] == [t0 + 30000, t0 + 30300]
    assert records[8]["d"] == {"so2": [12.5, "ppb", 0, 30, 0], "temp": [21.25, "degC", 0, 30, 0]}
    assert records[9]["d"]["so2"][0] == 13.5
    assert len(msgs) >= 4  # in several messages, a reboot after the first
