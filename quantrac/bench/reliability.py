"""`quantrac bench reliability`: sent, stored, lost and duplicated through each fault.

One private stack; each fault gets its own collector (data folder, MQTT session) and its own
window of record time, so its points are counted alone. Stations stream at QoS 1 through real
station logins (`quantrac.bench.stream`); a reading counts as sent once the broker
acknowledged its message, and afterwards every (station, param) in the window is counted.

- broker restart: Mosquitto stopped (SIGTERM, it saves its sessions) and started again;
- InfluxDB restart: the database stopped for `outage_s` (the spool takes it) and started;
- collector SIGKILL: `quantrac collector run` killed while the database hangs (SIGSTOP), so its
  spool holds acknowledged readings the database has not seen; then started again;
- one worker of several SIGKILLed: `collector run --workers 2` while the database hangs,
  worker 1 killed, restarted by the supervisor on its own session (`quantrac.bench.worker_kill`);
- station outage: one station's 3 days of 5-minute records arrive late, 16 per message as its
  backlog drains them, and the first messages again (a station that lost its PUBACKs resends
  with the same boot and seq), while the others stream live;
- firmware SIGKILL during a backlog write: the real firmware of one simulated station killed
  `firmware_kills` times and started again on its backlog (`quantrac.bench.firmware_kill`);
  counted in records, not readings.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from quantrac.bench import common
from quantrac.bench.firmware_kill import firmware_sigkill
from quantrac.bench.stream import StationStream
from quantrac.bench.worker_kill import worker_sigkill

STATIONS = ["pq-air-10", "pq-sea-01"]
CLI = [sys.executable, "-c", "from quantrac.cli import main; main()"]


def _pid(run: Path, name: str) -> int:
    from collector import services as svc

    (row,) = [r for r in svc.status(run) if r["name"] == name]
    if not row["running"]:
        raise common.BenchError(f"{name} is not running")
    return row["pid"]


def _collector(env: dict, folder: Path):
    return common.start_collector(env, folder)


def _stored(env: dict, want: dict, t0: int, t1: int, timeout: float) -> dict:
    """Wait until the window holds what was sent (or the timeout), then compare."""
    got: dict = {}

    def done() -> bool:
        got.clear()
        got.update(common.counts(env, t0, t1))
        return all(got.get(k, 0) >= n for k, n in want.items())

    with contextlib.suppress(common.BenchError):  # what is missing is reported as lost
        common.wait_for(done, "every reading stored", timeout)
    return common.compare(want, got)


def broker_restart(env: dict, run: Path, folder: Path, t0: int, stream_s: float,
                   outage_s: float) -> dict:
    from collector import services as svc

    c = _collector(env, folder)
    stream = StationStream(env, STATIONS, t0=t0)
    try:
        stream.start()
        time.sleep(stream_s)
        os.kill(_pid(run, "mosquitto"), signal.SIGTERM)
        time.sleep(min(outage_s, 5))
        svc.up(run)
        common.wait_for(lambda: c.stats["source"]["connects"] >= 2, "the collector to reconnect")
        time.sleep(stream_s)
        stream.stop()
        return _stored(env, stream.expected(), t0, stream.t_last, 180)
    finally:
        stream.stop()
        c.stop()


def influxdb_restart(env: dict, run: Path, folder: Path, t0: int, stream_s: float,
                     outage_s: float) -> dict:
    from collector import services as svc

    c = _collector(env, folder)
    stream = StationStream(env, STATIONS, t0=t0)
    try:
        stream.start()
        time.sleep(stream_s)
        os.kill(_pid(run, "influxdb"), signal.SIGTERM)
        common.wait_for(lambda: c.stats["sink"]["state"] == "retry", "the collector to notice")
        time.sleep(outage_s)
        svc.up(run)
        time.sleep(stream_s)
        stream.stop()
        return _stored(env, stream.expected(), t0, stream.t_last, 300 + outage_s)
    finally:
        stream.stop()
        c.stop()


def collector_sigkill(env: dict, run: Path, folder: Path, t0: int, stream_s: float,
                      outage_s: float) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "collector.toml"
    config.write_text(f'[collector]\ndata_dir = "{folder / "data"}"\nsummary_interval_s = 1.0\n'
                      f'[sources.mqtt]\nclient_id = "bench-kill-{uuid.uuid4().hex[:6]}"\n'
                      "reconnect_min_s = 0.2\nreconnect_max_s = 1.0\n"
                      "[sinks.influxdb]\nretry_initial_s = 0.2\nretry_max_s = 1.0\n"
                      "timeout_s = 2.0\nflush_interval_s = 0.1\n")
    procs: list[subprocess.Popen] = []

    def start(log: Path) -> None:
        with open(log, "wb") as out:
            p = subprocess.Popen([*CLI, "collector", "run", "--run-dir", str(run), "--config",
                                  str(config)], stdout=out, stderr=subprocess.STDOUT)
        procs.append(p)
        common.wait_for(lambda: "connected to" in log.read_text() or p.poll() is not None,
                        "the collector to connect")
        if p.poll() is not None:
            raise common.BenchError(f"the collector exited: {log.read_text()[-2000:]}")

    influx = _pid(run, "influxdb")
    stream = StationStream(env, STATIONS, t0=t0)
    try:
        start(folder / "run-1.log")
        stream.start()
        time.sleep(stream_s)
        os.kill(influx, signal.SIGSTOP)  # writes hang and time out: the spool fills
        common.wait_for(lambda: "keeping" in (folder / "run-1.log").read_text(),
                        "a failed write")
        time.sleep(min(outage_s, 2))
        procs[0].kill()  # SIGKILL: no cleanup of any kind
        procs[0].wait()
        os.kill(influx, signal.SIGCONT)
        start(folder / "run-2.log")
        time.sleep(stream_s)
        stream.stop()
        return _stored(env, stream.expected(), t0, stream.t_last, 180)
    finally:
        os.kill(influx, signal.SIGCONT)
        stream.stop()
        common.stop_processes(procs, 30)


def station_outage(env: dict, run: Path, folder: Path, t0: int, stream_s: float,
                   outage_s: float, days: float = 3.0) -> dict:
    """pq-air-01 was away for `days`: its backlog arrives late while the others stream."""
    st, batch = "pq-air-01", 16
    c = _collector(env, folder)
    stream = StationStream(env, STATIONS, t0=t0 + int(days * 86400) + 3600)
    try:
        stream.start()
        time.sleep(stream_s / 2)
        params, boot, n = common.params_of(st), uuid.uuid4().hex[:8], int(days * 86400 // 300)
        recs = [common.record(st, t0 + 300 * k, k, params=params) for k in range(n)]
        msgs = [common.message(st, boot, i // batch, recs[i:i + batch])
                for i in range(0, n, batch)]
        common.publish_all(env, msgs)
        common.publish_all(env, msgs[:10])  # resent with the same boot and seq
        time.sleep(stream_s / 2)
        stream.stop()
        want = stream.expected()
        want.update(common.expected(msgs))
        return _stored(env, want, t0, stream.t_last, 180)
    finally:
        stream.stop()
        c.stop()


FAULTS: dict[str, Callable[..., dict]] = {
    "broker restart": broker_restart,
    "InfluxDB restart": influxdb_restart,
    "collector SIGKILL": collector_sigkill,
    "one worker of several SIGKILLed mid-stream":
        lambda env, run, *a: worker_sigkill(env, run, *a, influx_pid=_pid(run, "influxdb")),
    "firmware SIGKILL during a backlog write": firmware_sigkill,
    "3-day station outage": station_outage,
}


def run(outage_s: float = 300.0, stream_s: float = 10.0, firmware_kills: int = 20,
        say: Callable[[str], None] = print) -> dict:
    result: dict = {"machine": common.machine(), "outage_s": outage_s, "stream_s": stream_s,
                    "firmware_kills": firmware_kills, "faults": []}
    faults = {name: functools.partial(f, kills=firmware_kills) if f is firmware_sigkill else f
              for name, f in FAULTS.items()}
    with common.private_stack() as (env, folder):
        for k, (name, fault) in enumerate(faults.items()):
            say(f"reliability: {name}")
            t0 = common.window_start(60 - 8 * k)
            r = fault(env, folder / "run", folder / f"fault-{k}", t0, stream_s, outage_s)
            result["faults"].append({"name": name, **r})
    result["lost"] = sum(f["lost"] for f in result["faults"])
    result["duplicated"] = sum(f["duplicated"] for f in result["faults"])
    return result


def table(r: dict) -> list[str]:
    m = r["machine"]
    out = [f"bench reliability: InfluxDB down {r['outage_s']:g} s, streams of "
           f"{r['stream_s']:g} s around each fault; {m['nproc']} CPUs, {m['cpu']}, "
           f"{m['ram_gib']} GiB",
           f"  {'fault':40} {'sent':>7} {'stored':>7} {'lost':>5} {'duplicated':>10}"]
    for f in r["faults"]:
        out.append(f"  {f['name']:40} {f['sent']:7d} {f['stored']:7d} {f['lost']:5d} "
                   f"{f['duplicated']:10d}")
        if f.get("unit") == "records":
            out.append(f"  {'':40} (records, not readings: {f['kills']} SIGKILLs, "
                       f"{f['kills_link_cut']} with the link cut; {f['torn']} torn, "
                       f"{f['unlogged']} unlogged, {f['redelivered']} redelivered, "
                       f"{f['unexpected']} unexpected)")
    return out
