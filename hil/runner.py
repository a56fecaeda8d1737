"""Run scenarios end to end: simulators + unix-port firmware → broker → collector → InfluxDB,
then judge every expected outcome.

Each scenario gets, on the shared services (`collector.services.up(run_dir)`):
- its own InfluxDB database (`hil_<scenario>_<run id>`, dropped afterwards unless kept), so
  nothing a previous run stored can make a check pass;
- its own collector (unique MQTT client id, MQTT 5 session that expires after the run,
  subscribed to its stations only, state and spool in `<run_dir>/scenarios/<name>/`);
- its stations' retained alerts cleared first, and a watcher for their events and alerts;
- one fast clock (hil.fastclock) for the simulators, the fault windows, the commands and the
  firmware's own clock.

Scenarios that share no station run side by side (`jobs`), longest first.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from hil import checks, ota_kit, ota_play, watch
from hil.checks import CheckResult
from hil.fastclock import FastClock
from hil.faults import FaultSet
from hil.ota_play import OtaPlayer
from hil.ota_station import OtaStation
from hil.scenario import Command, Scenario
from hil.station import SimulatedStation

log = logging.getLogger("quantrac.hil")
SETTLE_S = 1.5  # after the stations stop: in-flight messages reach the collector
SESSION_EXPIRY_S = 120  # the broker forgets a finished run's collector session


@dataclass
class ScenarioResult:
    name: str
    about: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""
    database: str = ""
    station_s: float = 0.0
    speed: float = 1.0

    @property
    def passed(self) -> bool:
        return not self.error and bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict:
        doc = {"name": self.name, "passed": self.passed,
               "checks": [c.to_json() for c in self.checks], "about": self.about,
               "seconds": round(self.seconds, 1), "station_hours": round(self.station_s / 3600, 2),
               "speed": self.speed}
        if self.error:
            doc["error"] = self.error
        if self.database:
            doc["database"] = self.database
        return doc


def _database(env: dict, name: str, run_id: str) -> str:
    return f"hil_{name.replace('-', '_')}_{run_id}"


def create_database(env: dict, db: str, run_dir: Path) -> dict:
    """A fresh database the services' writer may write and reader may read; the env for it."""
    from collector.services import influxdb

    influxdb.bootstrap(env["QUANTRAC_INFLUX_URL"],
                       (env["QUANTRAC_INFLUX_ADMIN_USER"], env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]),
                       (env["QUANTRAC_INFLUX_WRITE_USER"], env["QUANTRAC_INFLUX_WRITE_PASSWORD"]),
                       (env["QUANTRAC_INFLUX_READ_USER"], env["QUANTRAC_INFLUX_READ_PASSWORD"]),
                       run_dir, database=db)
    return {**env, "QUANTRAC_INFLUX_DB": db}


def drop_database(env: dict, db: str) -> None:
    from collector.services import influxdb
    from quantrac_common.influxql import quote_ident

    admin = (env["QUANTRAC_INFLUX_ADMIN_USER"], env["QUANTRAC_INFLUX_ADMIN_PASSWORD"])
    status, doc = influxdb.query(env["QUANTRAC_INFLUX_URL"],
                                 f"DROP DATABASE {quote_ident(db)}", admin)
    if status != 200:
        log.warning("could not drop database %s: %s %s", db, status, doc)


class ScenarioRun:
    """One scenario on the bench; `run()` never raises for a failing station or check."""

    def __init__(self, scenario: Scenario, env: dict, run_dir: Path, run_id: str,
                 firmware_dir: Path | None = None, keep_data: bool = False,
                 say: Callable[[str], None] = print,
                 make_station: Callable[..., SimulatedStation] = SimulatedStation) -> None:
        """`make_station`: what stands for a station (hil.board puts one on a real ESP32)."""
        self.make_station = make_station
        self.sc = scenario
        self.env = env
        self.run_dir = Path(run_dir)
        self.dir = self.run_dir / "scenarios" / scenario.name
        self.run_id = run_id
        self.firmware_dir = firmware_dir
        self.keep_data = keep_data
        self.say = say
        self.stations: dict[str, SimulatedStation] = {}
        self.fault_sets: dict[tuple[str, str], FaultSet] = {}
        self.died: dict[str, float] = {}  # station -> station time its firmware was found dead
        self.kit: ota_kit.Kit | None = None  # an OTA scenario's build, key and bundles
        self.player: OtaPlayer | None = None

    def run(self) -> ScenarioResult:
        sc = self.sc
        result = ScenarioResult(sc.name, sc.about, station_s=sc.duration_s, speed=sc.speed)
        began = time.monotonic()
        db = _database(self.env, sc.name, self.run_id)
        env = None
        watcher = collector = None
        try:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir.mkdir(parents=True)
            if sc.department:  # what the department entered: read by the collector at start
                (self.dir / "regulations.json").write_text(
                    json.dumps(sc.department, ensure_ascii=False), encoding="utf-8")
            env = create_database(self.env, db, self.dir)
            result.database = db
            watch.clear_retained_alerts(env, sc.station_ids)
            watcher = watch.Watcher(env, sc.station_ids).start()
            if sc.firmware is not None:
                self._ota_kit(env)
            collector = self._collector(env)
            collector.start()
            clock = FastClock(sc.speed, sc.start)
            self._stations(env, clock)
            clock.start()
            for sim in self.stations.values():
                sim.start()
            if sc.firmware is not None:
                self.player = OtaPlayer(sc.firmware, env, clock, self.kit, self.stations,
                                        watcher, lambda m: log.info("%s: %s", sc.name, m))
                self.player.start()
            alive = self._timeline(clock, watcher)
            if self.player is not None:
                self.player.stop(max(clock.real_s(s.timeout_s) for s in sc.firmware.steps))
            for sim in self.stations.values():
                sim.stop()
            time.sleep(SETTLE_S)
            rejected = collector.stats.get("totals", {}).get("rejected", 0)
            collector.stop()
            collector = None
            ctx = checks.Context(sc, env, watcher, self._log_text, self.player)
            result.checks = [checks.judge(c, ctx) for c in sc.checks]
            result.checks += self._implicit(alive, rejected)
            if self.player is not None:
                result.checks.append(CheckResult(
                    "the ota steps were all played", not self.player.errors,
                    "; ".join(self.player.errors) or f"{len(sc.firmware.steps)} steps"))
        except Exception as e:  # a bench that cannot run is a failed scenario with a reason
            log.exception("scenario %s could not run", sc.name)
            result.error = f"{type(e).__name__}: {e}"
        finally:
            for sim in self.stations.values():
                try:
                    sim.stop()
                except RuntimeError as e:
                    result.error = result.error or str(e)
            if collector is not None:
                collector.stop()
            if watcher is not None:
                watcher.stop()
            if self.kit is not None:
                try:
                    ota_play.clear(self.env, sc.station_ids, self.kit)
                except Exception as e:  # noqa: BLE001 - the run's verdict stands; say why
                    log.warning("%s: retained update messages not cleared: %s", sc.name, e)
            if env is not None and not self.keep_data:
                drop_database(env, db)
                result.database = ""
        result.seconds = time.monotonic() - began
        return result

    def _collector(self, env: dict):
        from collector.config import Settings
        from collector.pipeline import Collector

        topics = [f"quantrac/v1/{s}/{leaf}" for s in self.sc.station_ids
                  for leaf in ("data", "status", "event")]
        options = {
            "collector": {"data_dir": str(self.dir / "collector"),
                          "registry": self.sc.registry},
            "sources": {"mqtt": {"client_id": f"hil-{self.sc.name}-{self.run_id}"[:64],
                                 "topics": topics, "protocol": "5",
                                 "session_expiry_s": SESSION_EXPIRY_S}},
            "metrics": {"influx": False},
        }
        return Collector(Settings.from_env(env, run_dir=self.dir, options=options))

    def _ota_kit(self, env: dict) -> None:
        """The build, key and bundles; no update message left from another run."""
        fw = self.sc.firmware
        if self.make_station is not SimulatedStation:
            raise RuntimeError("an ota scenario runs its stations on the unix port only")
        self.kit = ota_kit.make(self.run_dir, self.dir, fw.installed, fw.bundles,
                                build=self.firmware_dir)
        ota_play.clear(env, self.sc.station_ids, self.kit)

    def _stations(self, env: dict, clock: FastClock) -> None:
        sc = self.sc
        make = self.make_station
        if self.kit is not None:
            make = functools.partial(OtaStation, kit=self.kit)
        for st in sc.stations:
            self.stations[st.id] = make(
                st, env, self.dir, sample_s=sc.sample_s, report_s=sc.report_s, seed=sc.seed,
                clock=clock, firmware_dir=self.firmware_dir)
        for f in sc.faults:
            key = (f.station, f.sensor)
            if key not in self.fault_sets:
                seed = zlib.crc32(f"{sc.seed}:{f.station}:{f.sensor}".encode())
                self.fault_sets[key] = FaultSet(clock, seed, f"{f.station}/{f.sensor}")
                self.stations[f.station].sims[f.sensor].faults = self.fault_sets[key]
            self.fault_sets[key].add(f.fault)

    def _actions(self) -> list[Command]:
        """The scenario's commands, plus cal_start/cal_stop around every calibration run."""
        out = list(self.sc.commands)
        for f in self.sc.faults:
            if f.fault.kind == "calibration":
                args = {"params": [f.fault.param]}
                out.append(Command(f.station, f.fault.start, "cal_start", args))
                out.append(Command(f.station, f.fault.end, "cal_stop", args))
        return sorted(out, key=lambda c: c.at)

    def _timeline(self, clock: FastClock, watcher: watch.Watcher) -> dict[str, bool]:
        """Play commands at their times until one report period after the end (so the last
        record closes and is sent); which stations' firmware ran throughout."""
        actions = self._actions()
        until = self.sc.end + self.sc.report_s
        while True:
            now = clock.now()
            if self.player is not None and self.player.done:  # its last step was played
                until = min(until, self.player.finished_at + self.sc.report_s)
            while actions and actions[0].at <= now:
                a = actions.pop(0)
                cid = watcher.command(a.station, a.cmd, a.args)
                log.info("%s: %s -> %s %s (%s)", self.sc.name, cid, a.station, a.cmd, a.args)
            for sid, sim in self.stations.items():
                if sid not in self.died and not sim.alive():
                    self.died[sid] = now
                    self.say(f"  {self.sc.name}: firmware of {sid} exited "
                             f"(code {sim.proc.returncode if sim.proc else '?'})")
            if now >= until or len(self.died) == len(self.stations):  # nothing left to watch
                return {sid: sid not in self.died for sid in self.stations}
            nxt = min([until, *(a.at for a in actions)])
            time.sleep(min(0.2, max(0.01, clock.real_s(nxt - now))))

    def _implicit(self, alive: dict[str, bool], rejected: int) -> list[CheckResult]:
        out = []
        for sid, ok in alive.items():
            detail = "" if ok else "exited early; log tail: " + " | ".join(
                self._log_text(sid).strip().splitlines()[-3:])
            out.append(CheckResult(f"firmware of {sid} runs to the end", ok, detail))
        for (sid, sensor), fs in self.fault_sets.items():
            for f in fs.faults:
                n = fs.applied[f]
                out.append(CheckResult(f"fault {f.describe()} on {sid}/{sensor} took effect",
                                       n > 0, f"applied {n} times"))
        out.append(CheckResult("the collector refused no message", rejected == 0,
                               f"{rejected} rejected (see {self.dir}/collector/dead-letters.jsonl)"
                               if rejected else "0 rejected"))
        return out

    def _log_text(self, sid: str) -> str:
        sim = self.stations.get(sid)
        return sim.log_text() if sim else ""


def run_all(scenarios: list[Scenario], env: dict, run_dir: Path, jobs: int = 2,
            firmware_dir: Path | None = None, keep_data: bool = False,
            say: Callable[[str], None] = print) -> list[ScenarioResult]:
    """Every scenario, up to `jobs` at once among those sharing no station; in input order."""
    run_id = uuid.uuid4().hex[:6]
    pending = sorted(scenarios, key=lambda s: -s.real_s())
    busy: set[str] = set()
    results: dict[str, ScenarioResult] = {}
    lock = threading.Lock()

    def one(sc: Scenario) -> ScenarioResult:
        say(f"▶ {sc.name}: {len(sc.stations)} station(s), {sc.duration_s / 3600:g} h of station "
            f"time at ×{sc.speed:g} (~{sc.real_s():.0f} s)")
        r = ScenarioRun(sc, env, run_dir, run_id, firmware_dir, keep_data, say).run()
        passed = sum(c.passed for c in r.checks)
        say(f"{'✔' if r.passed else '✘'} {sc.name}: {passed}/{len(r.checks)} checks passed in "
            f"{r.seconds:.0f} s" + (f" ({r.error})" if r.error else ""))
        return r

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="hil") as pool:
        running: dict[Future, Scenario] = {}
        while pending or running:
            for sc in list(pending):
                if len(running) >= max(1, jobs):
                    break
                if busy.isdisjoint(sc.station_ids):
                    pending.remove(sc)
                    with lock:
                        busy.update(sc.station_ids)
                    running[pool.submit(one, sc)] = sc
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                sc = running.pop(fut)
                with lock:
                    busy.difference_update(sc.station_ids)
                results[sc.name] = fut.result()
    return [results[s.name] for s in scenarios]
