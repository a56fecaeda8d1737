"""What the stack benches share: a private services stack, protocol-v1 messages for registry
stations, a fast QoS 1 publisher that waits for every PUBACK, point counts by InfluxQL, and the
machine a figure came from.

Every bench runs on its own Mosquitto and InfluxDB in a tmp run folder, so it never disturbs
`.run/` or a running demo, and leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt

import boards
from quantrac_common import influxql

WAIT_S = 60.0
# A plausible value per parameter (station units), so QC sees ordinary data.
TYPICAL = {"so2": 12.5, "co": 0.6, "no2": 18.0, "o3": 30.0, "temp": 29.5, "rh": 78.0,
           "pressure": 1008.0, "tsp": 60.0, "pm10": 35.1, "pm2_5": 20.0, "ph": 7.6,
           "do": 6.1, "tss": 20.0, "nh4": 0.05}


class BenchError(RuntimeError):
    """A bench could not run (services, a wait that timed out); the message says which."""


def machine() -> dict:
    """nproc, CPU model and RAM of this machine: every figure is reported with it."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kb = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                  if x.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        kb = 0
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(kb / 1024 / 1024, 1),
            "python": platform.python_version()}


@contextmanager
def private_stack() -> Iterator[tuple[dict[str, str], Path]]:
    """Our own Mosquitto + InfluxDB (+ proxy) in a tmp run folder: (env, run_dir)."""
    from collector import services as svc

    run_dir = Path(tempfile.mkdtemp(prefix="quantrac-bench-"))
    try:
        env = svc.up(run_dir / "run", bench=True)
        yield env, run_dir
    finally:
        try:
            svc.down(run_dir / "run")
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


def stations(n: int | None = None) -> list[str]:
    ids = list(boards.registry().ids())
    return ids if n is None else ids[:n]


def params_of(station: str) -> dict[str, str]:
    return boards.registry().get(station).params()


def bench_login(env: dict[str, str]) -> tuple[str, str]:
    """The bench's own broker account (it may publish as any station; a station's login is
    bound to the station's own client id, which belongs to the board)."""
    try:
        return env["QUANTRAC_MQTT_BENCH_USER"], env["QUANTRAC_MQTT_BENCH_PASSWORD"]
    except KeyError:
        raise BenchError("no bench account: the stack was not started by `private_stack`"
                         ) from None


def record(station: str, t: int, k: int, status: int = 0,
           params: dict[str, str] | None = None) -> dict:
    """One 5-minute record of every parameter the station measures (status for all)."""
    params = params or params_of(station)
    d = {p: [round(TYPICAL.get(p, 10.0) * (1 + (k % 7) / 100), 3), unit, status, 30, 0]
         for p, unit in params.items()}
    return {"t": t, "p": 300, "d": d}


def message(station: str, boot: str, seq: int, records: list[dict]) -> dict:
    return {"v": 1, "st": station, "fw": "0.1.0", "boot": boot, "seq": seq, "r": records}


def readings_in(msg: dict) -> int:
    return sum(len(r["d"]) for r in msg["r"])


def expected(messages: list[dict]) -> dict[tuple[str, str], int]:
    """Points the messages should make, per (station, param)."""
    out: dict[tuple[str, str], int] = {}
    for m in messages:
        for r in m["r"]:
            for p in r["d"]:
                out[(m["st"], p)] = out.get((m["st"], p), 0) + 1
    return out


def publish_all(env: dict[str, str], messages: list[dict], timeout: float = 600.0) -> float:
    """Publish at QoS 1, one client per station in parallel, each as the station itself;
    return the seconds until the broker acknowledged every message."""
    by_station: dict[str, list[bytes]] = {}
    for m in messages:
        by_station.setdefault(m["st"], []).append(json.dumps(m).encode())
    errors: list[str] = []
    t0 = time.monotonic()

    def one(st: str, bodies: list[bytes]) -> None:
        done = threading.Event()
        left = [len(bodies)]
        lock = threading.Lock()

        def on_publish(*_a) -> None:
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    done.set()

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"bench-{st}-{uuid.uuid4().hex[:6]}")
        c.username_pw_set(*bench_login(env))
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_publish = on_publish
        c.connect(env["QUANTRAC_MQTT_HOST"], int(env["QUANTRAC_MQTT_PORT"]))
        c.loop_start()
        try:
            for b in bodies:
                c.publish(f"quantrac/v1/{st}/data", b, qos=1)
            if not done.wait(timeout):
                errors.append(f"{st}: {left[0]} messages never acknowledged by the broker")
        finally:
            c.disconnect()
            c.loop_stop()

    threads = [threading.Thread(target=one, args=item, daemon=True)
               for item in by_station.items()]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise BenchError("; ".join(errors))
    return time.monotonic() - t0


def counts(env: dict[str, str], t_from: int, t_to: int,
           measurement: str = "reading") -> dict[tuple[str, str], int]:
    """Points stored between two record times (inclusive), per (station, param)."""
    series = influxql.query(env, f"SELECT count(status) FROM {measurement} WHERE "
                                 f"time >= {t_from}s AND time <= {t_to}s GROUP BY station, param",
                            timeout=WAIT_S)
    return {(s["tags"]["station"], s["tags"]["param"]): s["values"][0][1] for s in series}


def compare(want: dict[tuple[str, str], int], got: dict[tuple[str, str], int]) -> dict:
    """sent, stored, lost (wanted but absent), duplicated (stored beyond what was sent)."""
    lost = sum(max(0, n - got.get(k, 0)) for k, n in want.items())
    dup = sum(max(0, n - want.get(k, 0)) for k, n in got.items())
    return {"sent": sum(want.values()), "stored": sum(got.values()), "lost": lost,
            "duplicated": dup}


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def collector_options(client_id: str, **sections: dict) -> dict:
    """Collector options for a bench: its own session and quick reconnects and retries."""
    opts: dict = {"sources": {"mqtt": {"client_id": client_id, "reconnect_min_s": 0.2,
                                       "reconnect_max_s": 1.0}},
                  "sinks": {"influxdb": {"retry_initial_s": 0.2, "retry_max_s": 2.0,
                                         "timeout_s": 5.0}}}
    for name, table in sections.items():
        opts.setdefault(name, {}).update(table)
    return opts


def start_collector(env: dict[str, str], folder: Path):
    """`collector.pipeline.Collector` with its own session, data folder and quick retries."""
    from collector.config import Settings
    from collector.pipeline import Collector

    opts = collector_options(f"bench-rel-{uuid.uuid4().hex[:6]}")
    opts["sinks"]["influxdb"].update(retry_initial_s=0.2, retry_max_s=2.0, timeout_s=3.0,
                                     flush_interval_s=0.1)
    c = Collector(Settings.from_env(env, folder, opts))
    c.start()
    return c


def window_start(days_back: float) -> int:
    """A record time `days_back` days ago, on a 5-minute boundary (validation refuses the
    future, so every window lies in the past)."""
    return int(time.time() - days_back * 86400) // 300 * 300


def write_json(path: Path | None, doc: dict) -> None:
    if path is not None:
        Path(path).write_text(json.dumps(doc, indent=1) + "\n")


def stop_processes(procs: list[subprocess.Popen], timeout: float = WAIT_S) -> None:
    """SIGTERM each process still running (a collector then stops cleanly), SIGKILL it if it
    has not exited within `timeout`."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
