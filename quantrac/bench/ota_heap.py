"""What an over-the-air download adds to the station's heap, measured as `quantrac bench
firmware` measures the station (quantrac/bench/firmware.py: the fullest air station, its
.mpy build run from the ROMFS image, live heap after a collection at every loop turn).

Two runs of the same length on the same heap: one with no update, one during which the
station downloads a whole bundle (51 chunks of 1,536 B today, each a message handled in
its own loop turn) and checks it. The wanted version names a wrong sha256 on purpose, so
after the last chunk the whole-bundle check refuses it and the station runs on (a bundle that
passed would end the run in its restart): the download and the check are what the run
covers; the signature check and the writing of the slot run within one turn after it, like a
command. The figures:
- ota_heap_peak_bytes vs base_heap_peak_bytes: the largest live heap at loop-turn boundaries,
  bench code left out (the 64 KiB goal is judged on it: ota_heap_goal_met);
- ota_qstrs, ota_qstr_pool_bytes vs base_*: names interned and their pools (a name past the
  pool's last entry starts the next pool, 7 KB, for good);
- ota_heap_required_bytes: the smallest -X heapsize (4 KiB steps) that still runs the update
  through (transient allocations within a turn included).
"""

from __future__ import annotations

import json
from pathlib import Path

from fwtools import fwbundle
from fwtools.fwpublish import Operator, fw_topic
from fwtools.fwrollout import halt
from quantrac.bench import firmware as fwbench

CYCLES = 3000  # long enough for a whole download (51 chunks, one a loop turn) on a busy machine


def _prepare(config: Path, pub: bytes) -> Path:
    ota = config.parent / "ota"
    for p in sorted(config.parent.rglob("*"), reverse=True):
        if p != config and "ota" not in p.relative_to(config.parent).parts[:1]:
            p.unlink() if p.is_file() else p.rmdir()
    ota.mkdir(exist_ok=True)
    for name in ("dl", "want", "refused", "note"):
        (ota / name).unlink(missing_ok=True)
    (ota / "key").write_bytes(pub)
    (ota / "active").write_text("a")
    return ota


def _stage(env: dict[str, str], bundle: fwbundle.Bundle, station: str) -> None:
    want = fwbundle.wanted(bundle)
    want["sha256"] = "0" * 64  # refused after the download: the run goes on
    with Operator(env) as op:
        for i, part in enumerate(fwbundle.chunks(bundle)):
            op.publish(f"{fw_topic(station)}/{i}", part)
        op.publish(fw_topic(station), json.dumps(want).encode())


def measure(env: dict[str, str], tmp: Path, say=print) -> dict:
    build = fwbench.bench_build(tmp)
    key = tmp / "sign.pem"
    pub = fwbundle.keygen(key).read_bytes()
    bundle = fwbundle.make(build.folder, "9.0.0", key)
    config = fwbench._config(env, tmp / "ota-heap", full=True)
    station = fwbench.STATION
    heap_k = 100  # room for what the update adds (the goal is judged on the live figure)
    n_chunks = len(fwbundle.chunks(bundle))
    try:
        with Operator(env) as op:
            halt(op, [station], {}, n_chunks)
        _prepare(config, pub)
        say("bench: the fullest air station, no update ...")
        base = fwbench._run(build, heap_k, "heap", str(config), str(CYCLES), str(CYCLES // 2))
        ota = _prepare(config, pub)
        _stage(env, bundle, station)
        say(f"bench: the same while it downloads a {len(bundle.blob)} B bundle ...")
        during = fwbench._run(build, heap_k, "heap", str(config), str(CYCLES), str(CYCLES // 2))
        downloaded = (ota / "refused").exists()
        say("bench: the smallest heap that runs the update through ...")
        need_k = None
        for k in range(84, heap_k + 1, 4):
            _prepare(config, pub)
            _stage(env, bundle, station)
            got = fwbench._run(build, k, "heap", str(config), str(CYCLES), str(CYCLES // 2),
                               starved_after=120)
            if got is not None and (ota / "refused").exists():
                need_k = k
                break
    finally:
        with Operator(env) as op:
            halt(op, [station], {}, n_chunks)
    if base is None or during is None:
        raise fwbench.BenchError(f"MemoryError at {heap_k} KiB ("
                                 f"{'during the update' if base else 'without an update'})")
    b_peak = base["peak_live"] - base["bench_code"]
    o_peak = during["peak_live"] - during["bench_code"]
    return {"base_heap_peak_bytes": b_peak, "ota_heap_peak_bytes": o_peak,
            "ota_heap_extra_bytes": o_peak - b_peak, "ota_downloaded": downloaded,
            "ota_heap_goal_met": o_peak <= fwbench.GOAL_HEAP,
            "ota_heap_required_bytes": need_k * 1024 if need_k else None,
            "base_qstrs": base.get("qstrs"), "ota_qstrs": during.get("qstrs"),
            "base_qstr_pool_bytes": base.get("qstr_pool_bytes"),
            "ota_qstr_pool_bytes": during.get("qstr_pool_bytes")}
