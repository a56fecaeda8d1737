"""`quantrac bench firmware`: the station's heap, backlog density and drain rate.

Runs the unix-port .mpy build (fwtools/fwbuild.py) of the real firmware through
quantrac/bench/firmware_station.py: byte-level fake UARTs and a virtual clock, so 10,000
sample cycles of the fullest air station take seconds, and a real loopback Mosquitto
(collector.services on a private run folder) taking its QoS 1 messages.

The fullest air station (fullest_air.json, bench-only data) is the air-standard profile plus
every channel planned for it: PM1, PM2.5 and PM10 from the particulate frame, and the
profile's noise option (a sound-level meter read every second, six parameters); a parameter
the profile already carries is not added twice. The heap run and the
goals are judged on it; each shipped profile (boards/profiles) is booted once more for its own
record size and days per MiB, at its own report interval.

The station runs as it is deployed: its modules from a ROMFS image (firmware_rom.py), so
their bytecode and string data stay out of the heap as they stay in flash on a board (each
string or bytes constant still gets a 32-byte object on the heap when its module loads). The image
itself has to sit in one heap block on the unix port; every heap figure leaves that block
out, and each `-X heapsize` is the working heap plus that block. One more run imports the
same .mpy files from the build folder (bytecode copied onto the heap, what a board without a
ROMFS partition or frozen modules does): the peak in both forms.

The bench's own module (fake wires, virtual clock, figure keeping: `bench_code_bytes`, measured
as it is imported) is not station code and is left out of the live figures too; the station
modules it imports, the wires' instances and every qstr pool stay counted.

Figures (JSON keys):
- heap_peak_bytes: the largest live heap (after gc.collect, every loop turn) over the run, the
  issue's "peak Python heap" and the figure the 64 KiB goal is judged on (heap_goal_met);
- heap_peak_with_bench_code_bytes: the same with the bench's module;
- heap_required_bytes: the smallest working heap (4 KiB steps, bench code included) that boots
  and runs 300 cycles, a command among them answered, with no MemoryError (not even one the
  station's loop caught and survived, nor a command dropped for want of heap for its code):
  the peak plus fragmentation plus the bench;
- command_answered: the heap run's command got its answer, so its code's names are in the
  figures (a dropped one had left out the qstr pool they start);
- heap_peak_code_on_heap_bytes, heap_goal_met_code_on_heap: the other form, the same figure
  (bench code left out the same way) with the .mpy files imported from the filesystem onto the
  heap, as a board without a ROMFS partition or frozen modules runs them; the goal judged on
  it too; qstrs_code_on_heap: the names interned then;
- qstrs, qstr_pool_bytes, qstrs_before_next_pool: names interned at run time and the pools
  holding them; the next pool (double the last) costs 7 KB at once on this build;
  bench_qstrs: how many of the names the bench module brought (they stay counted);
- heap_growth_bytes: live heap at the end minus at the start of the steady state;
- backlog_bytes_per_record, backlog_days_per_mib (what 1 MiB keeps for certain, at the
  station's report interval), drain_records_per_s (a pre-filled backlog into the broker);
- profiles: per shipped profile and the fullest one: params, report_s, record_bytes,
  records_per_mib, days_per_mib; backlog_goal_met: every one keeps >= 60 days per MiB.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import boards
from fwtools import fwbuild
from quantrac_common.paths import ROOT

STATION = "pq-air-01"
FULLEST = Path(__file__).with_name("fullest_air.json")
GOAL_DAYS = 60  # Circular 10/2021: a datalogger keeps 60 days
SCRIPT = Path(__file__).with_name("firmware_station.py")
ROM_LAUNCHER = Path(__file__).with_name("firmware_rom.py")
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
GOAL_HEAP = 64 * 1024
# firmware devices/sound.py: docs/noise.md's 0.5 dB bins over the meter's range (the station
# reports how many it made)
HIST_RESOLUTION_DB = 0.5
SOUND_RANGE = boards.catalog()["qt-sound-485"]["channels"][0]["range"]
# micropython.qstr_info(): the names interned at run time live in pools of 20, 40, 80 ... 640
# entries, each allocated on the heap when the one before is full
QSTR_INFO = re.compile(r"qstr pool: n_pool=\d+, n_qstr=(?P<n>\d+), "
                       r"n_str_data_bytes=(?P<data>\d+), n_total_bytes=(?P<total>\d+)")
QSTR_POOLS_FULL_AT = (20, 60, 140, 300, 620, 1260)
BENCH_CODE = re.compile(r"^bench code: (\d+) B$", re.M)  # firmware_rom.py
MIB = 1024 * 1024


class BenchError(RuntimeError):
    pass


@dataclass
class BenchBuild:
    folder: Path       # the .mpy files plus firmware_station.mpy
    image: Path        # all of them as one ROMFS image
    image_k: int       # KiB the image's heap block adds to every -X heapsize


def bench_build(tmp: Path) -> BenchBuild:
    build = fwbuild.build("unix", tmp / "build")
    try:
        for folder, rom in ((build.rom_folder, True), (build.folder, False)):
            fwbuild.compile_module("unix", SCRIPT, folder / "firmware_station.mpy",
                                   fwbuild.board_path(SCRIPT.name, rom=rom))
    except fwbuild.BuildError as e:
        raise BenchError(str(e)) from e
    image = tmp / "bench.romfs"
    image.write_bytes(fwbuild.romfs_image(build.rom_folder))
    # the image's block rounded up to GC blocks, the VfsRom and its mount entry: 2 KiB spare
    return BenchBuild(build.folder, image, -(-image.stat().st_size // 1024) + 2)


def _run(build: BenchBuild, heap_k: int, *args: str, timeout: float = 600,
         starved_after: float | None = None, from_files: bool = False) -> dict | None:
    """One MicroPython run of the bench script with `heap_k` KiB of working heap; its JSON
    line, or None on MemoryError.

    With `starved_after`, a run still going after that many seconds also counts as too little
    heap: just above its floor the collector runs on nearly every allocation and a 2-second
    run can take many minutes without ever raising MemoryError."""
    if from_files:  # the same launcher without an image: the same accounting
        argv = [str(MICROPYTHON), "-X", f"heapsize={heap_k}k", str(ROM_LAUNCHER), "-", *args]
    else:
        argv = [str(MICROPYTHON), "-X", f"heapsize={heap_k + build.image_k}k",
                str(ROM_LAUNCHER), str(build.image), *args]
    try:
        proc = subprocess.run(
            argv,
            # from files: through sys.path's '' in the build folder, as a board imports them,
            # so each module's __file__ is the name mpy-cross recorded (one name, not two)
            env={"MICROPYPATH": "",
                 "PATH": "/usr/bin:/bin"},
            capture_output=True, text=True, timeout=starved_after or timeout,
            stdin=subprocess.DEVNULL, cwd=build.folder if from_files else build.image.parent)
    except subprocess.TimeoutExpired:
        if starved_after is None:
            raise BenchError(f"bench run at {heap_k} KiB did not finish in {timeout} s") from None
        return None
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode == 0 and lines:
        out = json.loads(lines[-1])
        pools = [(int(m["n"]), int(m["total"]) - int(m["data"]))
                 for m in QSTR_INFO.finditer(proc.stdout)]
        if pools:  # the last line: at the end of the run
            out["qstrs"], out["qstr_pool_bytes"] = pools[-1]
        code = BENCH_CODE.search(proc.stdout)
        if code and len(pools) >= 2:
            # the bench module's own bytes, less any qstr pool its import happened to start
            # (the pools hold the station's names too: they stay counted)
            out["bench_code"] = int(code[1]) - (pools[1][1] - pools[0][1])
            out["bench_qstrs"] = pools[1][0] - pools[0][0]  # names only the bench module adds
        if "MemoryError" in proc.stdout and out.get("loop_errors"):
            return None  # the station caught it and went on: that heap is too small all the same
        if "no heap to load the command code" in proc.stdout:
            return None  # the bench's command dropped unanswered: too small, and the peak
            # would leave out the names its code interns (they can start the next qstr pool)
        return out
    if "MemoryError" in proc.stdout + proc.stderr:
        return None
    raise BenchError(f"bench run failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}"
                     f"{proc.stderr[-2000:]}")


def fullest(cfg: dict) -> dict:
    """The air station's firmware config with every channel fullest_air.json plans for it
    (none twice: a parameter already carried stays as the profile has it)."""
    spec = json.loads(FULLEST.read_text())
    have = {ch["param"] for s in cfg["sensors"] for ch in s["ch"]}
    for add in spec["add"]:
        sensor = next((s for s in cfg["sensors"] if s["id"] == add["sensor"]), None)
        if sensor is None:
            if "new" not in add:
                raise BenchError(f"{FULLEST.name}: no sensor {add['sensor']!r} in "
                                 f"{spec['base_profile']}")
            sensor = {**add["new"], "ch": []}
            cfg["sensors"].append(sensor)
        for ch in add["ch"]:
            if ch["param"] not in have:
                sensor["ch"].append(dict(ch))
                have.add(ch["param"])
    return cfg


def _config(env: dict[str, str], folder: Path, station: str = STATION,
            full: bool = False) -> Path:
    """config.json for `station` at its profile's intervals (the fullest air station with
    `full`), in `folder`."""
    password = json.loads(Path(env["QUANTRAC_STATION_SECRETS"]).read_text())[station]
    password = password["password"] if isinstance(password, dict) else password
    st = boards.registry().get(station)
    if full:  # the profile options the fullest station carries (the sound-level meter)
        st = dataclasses.replace(st, options=tuple(json.loads(FULLEST.read_text())["options"]))
    cfg = boards.firmware_config(
        st, {"rs485": {"path": "bench"}, "pm": {"path": "bench"}},
        {"host": env["QUANTRAC_MQTT_HOST"], "port": int(env["QUANTRAC_MQTT_PORT"]),
         "user": station, "password": password, "keepalive": 600})
    cfg["uarts"] = {k: v for k, v in cfg["uarts"].items()
                    if any(s["uart"] == k for s in cfg["sensors"])}
    if full:
        cfg = fullest(cfg)
    cfg["log"] = {"level": "warn"}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def density(figures: dict, cfg: Path) -> dict:
    """Backlog density from a run's figures: what the default 1 MiB bound keeps for certain
    (all segment files but the one being replaced when the oldest goes)."""
    report_s = json.loads(cfg.read_text())["report_s"]
    per_mib = figures["per_segment"] * (figures["segments"] - 1)
    return {"params": figures["params"], "report_s": report_s,
            "record_bytes": figures["record_bytes"], "records_per_mib": per_mib,
            "days_per_mib": round(per_mib * report_s / 86400, 2)}


def profile_densities(build: BenchBuild, env: dict[str, str], tmp: Path) -> dict[str, dict]:
    """Each shipped profile's record size and days per MiB: one registry station of it
    booted for one sample cycle (one without profile options when there is one: the profile
    as it ships; the fullest station carries the options)."""
    out = {}
    for path in sorted((boards.HERE / "profiles").glob("*.json")):
        of = [s for s in boards.registry().stations if s.profile == path.stem]
        plain = [s for s in of if not s.options]
        station = (plain or of)[0].id if of else None
        if station is None:
            continue
        cfg = _config(env, tmp / "profiles" / path.stem, station)
        figures = _run(build, 512, "heap", str(cfg), "1", "1")
        if figures is None:
            raise BenchError(f"{path.stem}: MemoryError in 512 KiB")
        out[path.stem] = density(figures, cfg)
    return out


def required_heap(build: BenchBuild, config: Path, lo_k: int = 32, hi_k: int = 512) -> int:
    """Smallest heap in KiB (4 KiB steps) that boots and runs 300 sample cycles, the command
    among them answered, without a MemoryError (also none that the station's loop caught and
    logged: it went on, but that turn's work was lost)."""
    if _run(build, hi_k, "heap", str(config), "300", "100") is None:
        raise BenchError(f"the station does not run in {hi_k} KiB")
    while hi_k - lo_k > 4:
        mid = (lo_k + hi_k) // 2 // 4 * 4
        data = config.parent / "data"
        for p in sorted(data.rglob("*"), reverse=True) if data.exists() else ():
            p.unlink() if p.is_file() else p.rmdir()
        if _run(build, mid, "heap", str(config), "300", "100", starved_after=60) is None:
            lo_k = mid
        else:
            hi_k = mid
    return hi_k


def run(cycles: int = 10_000, drain_records: int = 2880, say=print) -> dict:
    from collector import services

    with tempfile.TemporaryDirectory(prefix="quantrac-bench-") as tmp:
        tmp_path = Path(tmp)
        build = bench_build(tmp_path)
        image_bytes = build.image.stat().st_size
        say(f"bench: firmware build {build.folder} and its {image_bytes} B ROMFS image ready; "
            "starting a private broker")
        env = services.up(tmp_path / "run")
        try:
            say("bench: each shipped profile's record ...")
            profiles = profile_densities(build, env, tmp_path)
            work = tmp_path / "heap"
            config = _config(env, work, full=True)
            say("bench: finding the smallest heap that runs the air station ...")
            need_k = required_heap(build, config)
            for p in sorted((work / "data").rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            heap_k = need_k + 8
            say(f"bench: {cycles} sample cycles under -X heapsize={heap_k}k ...")
            started = time.monotonic()
            heap = _run(build, heap_k, "heap", str(config), str(cycles), str(cycles // 10))
            if heap is None:
                raise BenchError(f"MemoryError during {cycles} cycles at {heap_k} KiB")
            heap_s = time.monotonic() - started
            for p in sorted((work / "data").rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            say("bench: the same with the modules imported from files ...")
            files = _run(build, 512, "heap", str(config), str(max(cycles // 10, 300)),
                         str(max(cycles // 100, 100)), from_files=True)
            full = density(heap, config)
            sample_s = json.loads(config.read_text())["sample_s"]
            work = tmp_path / "drain"
            config = _config(env, work, full=True)
            say(f"bench: draining {drain_records} backlog records into the broker ...")
            drain = _run(build, 512, "drain", str(config), str(drain_records))
        finally:
            services.down(tmp_path / "run")
    bench_code = heap["bench_code"]
    peak = heap["peak_live"] - bench_code
    name = json.loads(FULLEST.read_text())["name"]
    profiles[name] = full
    return {
        "station": f"{STATION} as {name}", "params": full["params"],
        "sample_s": sample_s,
        "report_s": full["report_s"],
        "heap_limit_bytes": heap_k * 1024,
        "heap_required_bytes": need_k * 1024,
        "heap_peak_bytes": peak,
        "heap_peak_with_bench_code_bytes": heap["peak_live"],
        "bench_code_bytes": bench_code,
        "heap_peak_code_on_heap_bytes": files["peak_live"] - files["bench_code"],
        "heap_goal_met_code_on_heap": files["peak_live"] - files["bench_code"] <= GOAL_HEAP,
        "qstrs_code_on_heap": files["qstrs"],
        "rom_image_bytes": image_bytes,
        "heap_boot_bytes": heap["boot_live"] - bench_code,
        "heap_growth_bytes": heap["end_live"] - heap["steady_start"],
        "histogram_bytes": heap["histogram_bytes"], "histogram_bins": heap["histogram_bins"],
        "histogram_resolution_db": HIST_RESOLUTION_DB, "histogram_floor_db": SOUND_RANGE[0],
        "qstrs": heap["qstrs"], "qstr_pool_bytes": heap["qstr_pool_bytes"],
        "bench_qstrs": heap["bench_qstrs"],
        "qstrs_before_next_pool": next(n for n in QSTR_POOLS_FULL_AT if n >= heap["qstrs"])
        - heap["qstrs"],
        "heap_goal_bytes": GOAL_HEAP,
        "heap_goal_met": peak <= GOAL_HEAP,
        "sample_cycles": heap["cycles"], "records": heap["records"],
        "command_answered": heap["answered"] > 0,
        "messages_published": heap["published"], "loop_errors": heap["loop_errors"],
        "cycles_per_s": round(heap["cycles"] / heap_s, 1),
        "backlog_bytes_per_record": full["record_bytes"],
        "backlog_records_per_mib": full["records_per_mib"],
        "backlog_bytes_per_record_effective": round(MIB / full["records_per_mib"], 2),
        "backlog_days_per_mib": full["days_per_mib"],
        "backlog_goal_days": GOAL_DAYS,
        "backlog_goal_met": all(p["days_per_mib"] >= GOAL_DAYS for p in profiles.values()),
        "profiles": profiles,
        "drain_records": drain["records"], "drain_messages": drain["messages"],
        "drain_batch": drain["batch"],
        "drain_records_per_s": round(drain["records"] / max(drain["ms"], 1) * 1000, 1),
    }
