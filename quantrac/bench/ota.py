"""`quantrac bench ota`: an update killed at random moments of its download and of its switch.

One registry air station (`hil.station.SimulatedStation`: its sensors simulated on ptys) runs
the unix-port .mpy build flashed for OTA (fwtools/fwbundle.py: slot a, the loader, the public
key), publishing into the bench's own broker. Each round the operator stages the next version
(1.0.1, 1.0.2, ...) and the station is SIGKILLed once, at a random moment: in even rounds while
it downloads (within the first 30 % of an update's time), in odd rounds while it switches
(from its last chunk on: checking, writing the other slot, restarting, on trial until marked
good), from the timings of a first, unkilled update; the report counts where each kill
landed. Then it is started again, as a board after a power cut, and:

- it must boot a valid version: its boot line (the version read from the slot the loader
  picked) names the version it ran or the one staged, and it reaches the broker;
- the update must then complete on its own (resumed download, or the switch redone);
- no record it logged (`record t=…`, after the append to its backlog) may be missing from what
  the broker delivered to a subscriber by the end.

Also reported: the flash the update takes (both slots and the download at its largest) and
what the download adds to the fullest air station's live heap at loop-turn boundaries, and
whether the 64 KiB goal holds meanwhile (quantrac/bench/ota_heap.py: station/ota.py is loaded
per message and dropped, its state is on flash, and it interns 2 names of its own; see
firmware/README.md "Memory").
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

import boards
from fwtools import fwbuild, fwbundle
from fwtools.fwpublish import Operator, stage
from fwtools.fwrollout import halt
from hil.station import SimulatedStation, micropython_binary
from quantrac.bench import common

STATION = "pq-air-03"
WAIT_S = 90.0
RECORD = re.compile(r"record t=(\d+) ")
BOOT = re.compile(r"boot quantrac firmware (\S+) ")


class Station:
    """The firmware process under a supervisor that starts it again whenever it ends, like a
    board after a reset; `exits` holds the exit code of every run that ended on its own."""

    def __init__(self, folder: Path) -> None:
        """folder: main.py, slots.mpy, config.json and ota/ (fwbundle.install_board())."""
        self.folder = folder
        self.log_path = folder / "firmware.log"
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.exits: list[int] = []
        self._start()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(micropython_binary()), "-X", "heapsize=256k", str(self.folder / "main.py"),
                 str(self.folder / "config.json")],
                env={**os.environ, "MICROPYPATH": str(self.folder)}, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def _watch(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                code = self.proc.poll()
                if code is not None and not self.stopping.is_set():
                    self.exits.append(code)
                    self._start()
            time.sleep(0.05)

    def kill(self) -> None:
        with self.lock:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, since: int, pattern: str, timeout: float = WAIT_S) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log()[since:], re.MULTILINE)
            if m:
                return m
            time.sleep(0.05)
        raise common.BenchError(f"station log has no /{pattern}/ within {timeout:g} s:\n"
                                + self.log()[since:][-2000:])

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        with self.lock:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)


class Records:
    """Every record time the broker delivers on the station's data topic (persistent session:
    nothing is missed while the bench is busy)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.times: set[int] = set()
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"bench-ota-{os.getpid()}")
        self.client.username_pw_set(env["QUANTRAC_MQTT_COLLECTOR_USER"],
                                    env["QUANTRAC_MQTT_COLLECTOR_PASSWORD"])
        self.client.on_connect = lambda c, *a: c.subscribe(f"quantrac/v1/{STATION}/data", 1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._on_message
        self.client.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        self.client.loop_start()
        if not ready.wait(10):
            raise common.BenchError("the bench's subscriber got no SUBACK")

    def _on_message(self, client, userdata, msg) -> None:
        for r in json.loads(msg.payload)["r"]:
            self.times.add(r["t"])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def run(say=print, kills: int = 50, seed: int = 19, heap: bool = True) -> dict:
    """The bench on a private stack; its figures as a dict (with `heap`, also what a download
    adds to the fullest air station's heap: quantrac/bench/ota_heap.py)."""
    from quantrac.bench import ota_heap

    with common.private_stack() as (env, folder):
        r = kill_updates(env, folder, kills, seed, say)
        if heap:
            r.update(ota_heap.measure(env, folder / "heap", say))
        return r


def kill_updates(env: dict[str, str], folder: Path, kills: int, seed: int, say=print) -> dict:
    rng = random.Random(seed)
    build = fwbuild.build("unix", folder / "build")
    key = folder / "sign.pem"
    pub = fwbundle.keygen(key).read_bytes()
    bundles = {0: fwbundle.make(build.folder, "1.0.0", key)}
    sim = SimulatedStation(boards.registry().get(STATION), env, folder / "run", sample_s=1,
                           report_s=2)
    sim.prepare()
    fwbundle.install_board(sim.dir, build.folder, bundles[0], pub)
    records = Records(env)
    st = Station(sim.dir)
    phases = {"download": 0, "switch": 0}
    boots: list[str] = []
    flash_peak = 0
    try:
        st.wait_log(0, r"mqtt connected")

        def update(i: int, kill_at: tuple[str, float] | None) -> dict:
            nonlocal flash_peak
            b = bundles[i] = fwbundle.make(build.folder, f"1.0.{i}", key)
            mark = len(st.log())
            t0 = time.monotonic()
            with Operator(env) as op:
                stage(op, [STATION], b)
            times = {}
            if kill_at is not None:
                phase, delay = kill_at
                st.wait_log(mark, r"ota download")
                dl = sim.dir / "ota" / "dl"
                if phase == "switch":  # from the last chunk on: checks, slot, restart, trial
                    deadline = time.monotonic() + WAIT_S
                    while not (_size(dl) >= len(b.blob) or "ota staged" in st.log()[mark:]):
                        if time.monotonic() > deadline:
                            raise common.BenchError(f"round {i}: the download never ended")
                        time.sleep(0.005)
                time.sleep(delay)
                cut = len(st.log())
                done = _size(dl) >= len(b.blob) or "ota staged" in st.log()[mark:cut]
                st.kill()
                # where the kill landed, whatever the aim was
                phases["switch" if done else "download"] += 1
                m = st.wait_log(cut, r"boot quantrac firmware (\S+) ")
                boots.append(m[1])
                if m[1] not in (f"1.0.{i - 1}", f"1.0.{i}"):
                    raise common.BenchError(f"round {i}: booted {m[1]!r} after a kill")
                st.wait_log(cut, r"mqtt connected")
            st.wait_log(mark, rf"ota good 1\.0\.{i}\b")
            times["total"] = time.monotonic() - t0
            used = sum(p.stat().st_size for p in (sim.dir / "ota").rglob("*") if p.is_file())
            flash_peak = max(flash_peak, used + len(b.blob))  # + the download, at its largest
            return times

        say("bench: a first update, not killed, for its timings ...")
        first = update(1, None)
        span = first["total"]
        say(f"bench: {kills} updates, each killed once at a random moment "
            f"(an update takes {span:.1f} s here) ...")
        for k in range(kills):
            i = k + 2
            phase = "download" if k % 2 == 0 else "switch"
            # download: within the first 30 % of an update's time; switch: from the last chunk
            delay = rng.uniform(0, 0.3 * span) if phase == "download" else \
                rng.uniform(0, 0.5 * span)
            update(i, (phase, delay))
            if (k + 1) % 10 == 0:
                say(f"  {k + 1} kills, every boot valid")
        logged = {int(t) for t in RECORD.findall(st.log())}
        common.wait_for(lambda: logged <= records.times, "every logged record delivered",
                        timeout=WAIT_S)
        lost = sorted(logged - records.times)
    finally:
        st.stop()
        records.close()
        sim.stop()
        with Operator(env) as op:
            halt(op, [STATION], {}, len(fwbundle.chunks(bundles[max(bundles)])) + 1)
    b0 = bundles[0]
    files = sum(len(v) for v in b0.files.values())
    return {"station": STATION, "kills": kills, "killed_in": phases,
            "boots_after_kill": len(boots), "boots_valid": len(boots),
            "updates_completed": kills + 1, "records_logged": len(logged), "lost": len(lost),
            "lost_times": lost[:20], "update_s": round(span, 2),
            "bundle_bytes": len(b0.blob), "bundle_files_bytes": files,
            "chunks": len(fwbundle.chunks(b0)), "chunk_bytes": fwbundle.CHUNK_BYTES,
            "flash_peak_bytes": flash_peak, "slot_limit_bytes": fwbundle.SLOT_BYTES,
            "restarts": len(st.exits)}


def table(r: dict) -> list[str]:
    kib = 1024
    return [
        f"ota bench: {r['station']}, {r['kills']} updates each SIGKILLed once "
        f"({r['killed_in']['download']} in the download, {r['killed_in']['switch']} in the "
        "switch)",
        f"  boots after a kill     {r['boots_valid']} of {r['boots_after_kill']} on a valid "
        "version (the old or the staged one)",
        f"  updates completed      {r['updates_completed']} (each resumed after its kill)",
        f"  records lost           {r['lost']} of {r['records_logged']} logged",
        f"  bundle                 {r['bundle_bytes'] / kib:.1f} KiB in {r['chunks']} chunks of "
        f"{r['chunk_bytes']} B ({r['bundle_files_bytes'] / kib:.1f} KiB of modules a slot)",
        f"  flash, at most         {r['flash_peak_bytes'] / kib:.1f} KiB (two slots, the key and "
        f"the download; a 4 MB DevKitC has {(2_031_616 - 1_048_576) / kib:.0f} KiB beside the "
        "1 MiB backlog)",
        f"  one update             {r['update_s']:.1f} s on this machine (download, install, "
        "restart, trial until a record is acknowledged)",
    ] + ([] if "ota_heap_peak_bytes" not in r else [
        f"  heap peak, no update   {r['base_heap_peak_bytes'] / kib:.1f} KiB (the fullest air "
        f"station, live at loop-turn boundaries; {r['base_qstrs']} names)",
        f"  heap peak, downloading {r['ota_heap_peak_bytes'] / kib:.1f} KiB: "
        f"{r['ota_heap_extra_bytes']:+d} B; goal 64 KiB during an update: "
        f"{'met' if r['ota_heap_goal_met'] else 'NOT met'} ({r['ota_qstrs']} names, "
        + ("no new qstr pool)" if r["ota_qstr_pool_bytes"] == r["base_qstr_pool_bytes"] else
           f"station/ota.py starts a qstr pool of "
           f"{r['ota_qstr_pool_bytes'] - r['base_qstr_pool_bytes']} B, kept until the restart)"),
        "  heap required, update  "
        + (f"{r['ota_heap_required_bytes'] / kib:.0f} KiB" if r["ota_heap_required_bytes"]
           else "more than 100 KiB"),
    ])
