"""The reliability row "firmware SIGKILL during a backlog write": the real firmware killed.

One registry air station on the bench (`hil.station.SimulatedStation`: its sensors simulated on
ptys, the unix-port firmware from the checkout) on the fast clock (SPEED station seconds per
real second, a record every REPORT_S station seconds, i.e. every 0.6 s), publishing through a
TCP relay into the bench's broker, the real `Collector` writing into InfluxDB. The firmware is
SIGKILLed `kills` times at a random moment after it appended a record of that run, and started
again on the same data folder, so its on-flash backlog carries over; now and then the relay is
cut for a few runs, so the kills land while the backlog grows as well as while it drains.

Counted in records (one record time of the station), not readings:
- sent: every record the firmware committed: logged `record t=…` (after its append), or a
  whole slot with a good CRC in the backlog read after a kill (appended, killed before the log
  line). A slot cut short by the kill is the record being written: never sent, counted as
  `torn` (the boot line's count);
- stored: record times with `reading` points in InfluxDB; lost = sent − stored;
- duplicated: points beyond one per (station, param, time) (none possible by the schema;
  counted all the same); `redelivered`: the collector's dedupe hits (records sent again after
  a kill cut the cursor's commit short).
In the end the link is up and the firmware runs once more at speed 1 with an hour's report
interval, so nothing closes while it drains; it stops with SIGINT once its backlog is empty.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import boards
from hil.fastclock import FastClock
from hil.modbus_rtu import crc16
from hil.station import SimulatedStation, StationSetupError
from quantrac.bench import common
from quantrac.bench.relay import TcpRelay
from quantrac_common import influxql

STATION = "pq-air-02"  # no other fault streams as it
SPEED = 100            # a sample cycle (3 Modbus sensors, real-time bus I/O) takes ~0.35 s
SAMPLE_S = 30
REPORT_S = 60
FINAL_REPORT_S = 3600  # the drain run: no record closes while it empties the backlog
RUN_S = 8 * REPORT_S / SPEED  # the longest a run goes on after its first record
LINK_TOGGLE = 1 / 3    # chance that the link changes (cut / restored) before a run
WAIT_S = 60.0

RECORD = re.compile(r"record t=(\d+) ")
TORN = re.compile(r"boot ready .* torn=(\d+)")


def slot_size(header: bytes) -> int:
    """Bytes of one record slot of a segment with this header (firmware/README.md "The
    backlog": format 1, 10 + 5 B a parameter; format 2, a bit stream sized by the codes)."""
    minmax = header[3] & 1
    if header[2] == 1:
        return 10 + (11 if minmax else 5) * header[6]
    nb = header[7]
    bits = 33
    i = 11
    for _ in range(header[6]):
        i += 1 + header[i]  # name
        i += 1 + header[i]  # unit
        bits += nb + 4 + header[i + 2] * (3 if minmax else 1)
        i += 7              # kind, P, w, low
    return (bits + 7) // 8 + 2


def backlog_times(folder: Path) -> set[int]:
    """Record times of every whole slot (good CRC) in the backlog's segment files."""
    out: set[int] = set()
    for seg in sorted(folder.glob("*.seg")):
        data = seg.read_bytes()
        head = data[4] | data[5] << 8 if len(data) >= 6 else 0
        if len(data) < 7 or data[:2] != b"QB" or len(data) < head:
            continue  # a header cut short: a segment that never held a record
        size = slot_size(data[:head])
        for off in range(head, len(data) - size + 1, size):
            slot = data[off:off + size]
            if crc16(slot[:-2]) == int.from_bytes(slot[-2:], "little"):
                out.add(int.from_bytes(slot[:4], "little"))
    return out


class KilledStation(SimulatedStation):
    """A SimulatedStation whose firmware is killed and launched again on the same data."""

    def __init__(self, env: dict, run_dir: Path, relay_port: int, clock: FastClock) -> None:
        super().__init__(boards.registry().get(STATION), env, run_dir, sample_s=SAMPLE_S,
                         report_s=REPORT_S, seed=7, clock=clock)
        self.relay_port = relay_port
        self.final = False

    def mqtt_config(self) -> dict:
        return {**super().mqtt_config(), "host": "127.0.0.1", "port": self.relay_port}

    def build_config(self) -> dict:
        """The clock's t0 is station time now: each run goes on where the last one ended."""
        cfg = super().build_config()
        for s in cfg["sensors"]:
            if s.get("bus") != "modbus":
                s["warmup_s"] = 1  # a run of a few seconds would never see the pm stream
        if self.final:
            assert self.clock is not None
            cfg["report_s"] = FINAL_REPORT_S
            cfg["clock"] = {"speed": 1, "t0": int(self.clock.now())}
        return cfg

    @property
    def backlog_dir(self) -> Path:
        data = (self.config or {}).get("data_dir") or "data"
        return self.dir / data / "backlog"

    def relaunch(self) -> int:
        """Write the config and launch; the log offset this run starts at."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.config = self._write_config()
        self.launch()
        return offset

    def log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def wait_log(self, offset: int, pattern: str, timeout: float = WAIT_S) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log_since(offset))
            if m:
                return m
            if not self.alive():
                raise common.BenchError(f"firmware exited ({self.proc and self.proc.poll()}): "
                                        f"{self.log_since(offset)[-2000:]}")
            if time.monotonic() > deadline:
                raise common.BenchError(f"timed out waiting for /{pattern}/ in the firmware "
                                        f"log: {self.log_since(offset)[-2000:]}")
            time.sleep(0.02)

    def end(self, sig: int) -> None:
        """SIGKILL (no cleanup of any kind) or SIGINT (a clean stop, SIGKILL if it hangs)."""
        assert self.proc is not None and self._log is not None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
        self._log, self.proc = None, None


def _stored(env: dict, t0: int, t1: int) -> tuple[set[int], int, int]:
    """Record times with points, the points, and points beyond one per (param, time)."""
    series = influxql.query(env, f"SELECT status FROM reading WHERE station = '{STATION}' AND "
                                 f"time >= {t0}s AND time <= {t1}s GROUP BY *", timeout=WAIT_S)
    keys = Counter((s["tags"].get("param"), v[0]) for s in series for v in s["values"])
    return {t for _p, t in keys}, sum(keys.values()), sum(n - 1 for n in keys.values())


def _drain(st: KilledStation) -> None:
    """Run once more with the link up until the backlog is empty, then stop cleanly."""
    st.final = True
    for _ in range(3):
        offset = st.relaunch()
        queued = int(st.wait_log(offset, r"boot ready .* backlog=(\d+)").group(1))
        if queued:
            st.wait_log(offset, r"publish seq=\d+ records=\d+ bytes=\d+ queued=0 ", 180)
        st.end(signal.SIGINT)
        left = re.search(r"stop interrupted; queued=(\d+)", st.log_since(offset))
        if left is None or left.group(1) == "0":
            return
    raise common.BenchError("the firmware's backlog never drained: " + st.log_since(0)[-2000:])


def firmware_sigkill(env: dict, run: Path, folder: Path, t0: int, stream_s: float,
                     outage_s: float, kills: int = 20, seed: int = 1) -> dict:
    """Kill the firmware `kills` times (see the module text); the row's figures."""
    rng = random.Random(seed)
    clock = FastClock(speed=SPEED, t0=t0)
    relay = TcpRelay(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
    relay.up.set()
    collector = common.start_collector(env, folder / "collector")
    st = KilledStation(env, folder, relay.port, clock)
    committed: set[int] = set()
    cut_kills = 0
    try:
        try:
            st.prepare()
        except StationSetupError as e:
            raise common.BenchError(f"firmware SIGKILL: {e}") from e
        for k in range(kills):
            if k and rng.random() < LINK_TOGGLE:
                relay.cut() if relay.up.is_set() else relay.up.set()
            offset = st.relaunch()
            st.wait_log(offset, RECORD.pattern)  # this run has appended to the backlog
            time.sleep(rng.uniform(0, RUN_S))
            cut_kills += not relay.up.is_set()
            st.end(signal.SIGKILL)
            committed |= backlog_times(st.backlog_dir)
        relay.up.set()
        _drain(st)
        log = st.log_since(0)
        sent = committed | {int(t) for t in RECORD.findall(log)}
        t1 = int(clock.now()) + FINAL_REPORT_S
        got: tuple[set[int], int, int] = (set(), 0, 0)

        def all_stored() -> bool:
            nonlocal got
            got = _stored(env, t0, t1)
            return got[0] >= sent

        with contextlib.suppress(common.BenchError):  # what is missing is reported as lost
            common.wait_for(all_stored, "every record stored", 180)
        redelivered = collector.stats["totals"]["duplicates"]
    finally:
        try:
            st.stop()
        finally:
            relay.close()
            collector.stop()
    times, points, dup = got
    return {"sent": len(sent), "stored": len(times & sent), "lost": len(sent - times),
            "duplicated": dup, "unexpected": len(times - sent), "points": points,
            "unit": "records", "kills": kills, "kills_link_cut": cut_kills,
            "torn": sum(int(n) for n in TORN.findall(log)),
            "unlogged": len(committed - {int(t) for t in RECORD.findall(log)}),
            "redelivered": redelivered, "boots": log.count("boot ready"),
            "speed": SPEED, "report_s": REPORT_S}
