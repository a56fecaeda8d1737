"""The demo: registry stations on simulated sensors, through the real broker into the real database.

Services are started if needed and left running afterwards, so the data can be queried and
viewed; stations and the collector stop with the demo.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import boards
from quantrac_common import influxql


@dataclass
class DemoResult:
    env: dict[str, str]
    stored: dict[str, dict[str, int]]  # station -> param -> points in InfluxDB from this run
    missing: dict[str, list[str]]  # station -> params with no point from this run


def _table(stations, stats: dict, started: float, alive: dict[str, bool] | None) -> str:
    """The live view; `alive` is None once the stations were stopped on purpose."""
    now = time.time()
    per = stats.get("stations", {})

    def state(sid: str) -> str:
        return "-" if alive is None else "up" if alive.get(sid) else "DOWN"

    lines = [f"{'station':<11} {'kind':<10} {'state':<5} {'msgs':>5} {'readings':>8} "
             f"{'last record (UTC)':<19} {'seen':>6}  name"]
    for s in stations:
        st = per.get(s.id, {})
        seen = st.get("last_seen")
        rec = st.get("last_record_time")
        lines.append(
            f"{s.id:<11} {s.kind:<10} {state(s.id):<5} "
            f"{st.get('messages', 0):>5} {st.get('readings_stored', 0):>8} "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(rec)) if rec else '-':<19} "
            f"{f'{now - seen:.0f}s' if seen else '-':>6}  {s.name}")
    totals = stats.get("totals", {})
    lines.append(f"elapsed {now - started:.0f}s · messages {totals.get('messages', 0)} · "
                 f"readings stored {totals.get('readings_stored', 0)} · "
                 f"rejected {totals.get('rejected', 0)}")
    return "\n".join(lines)


def stored_points(env: dict[str, str], since: float) -> dict[str, dict[str, int]]:
    """station -> param -> count of `reading` points with a record time after `since`."""
    series = influxql.query(
        env, f'SELECT count("status") FROM "reading" WHERE time >= {int(since)}s '
             'GROUP BY "station", "param"')
    out: dict[str, dict[str, int]] = {}
    for s in series:
        tags = s.get("tags", {})
        out.setdefault(tags["station"], {})[tags["param"]] = int(s["values"][0][1])
    return out


def _public(env: dict[str, str], run_dir: Path, listen: tuple[str, int] | None,
            report_s: int | None, say: Callable[[str], None]):
    """The public page on `listen` (a free port when that one is taken), or None."""
    if listen is None:
        return None
    from public.serve import Background

    host, port = listen
    for p in (port, 0) if port else (0,):
        try:
            site = Background(env, run_dir, host, p, report_s=report_s).start()
        except (RuntimeError, OSError):
            continue
        say(f"public page: {site.url}/ (open data {site.url}/api/v1/, SensorThings "
            f"{site.url}/sta/v1.1/)")
        return site
    say("public page: could not start (see `quantrac public serve`)")
    return None


def run(stations_n: int | None, seconds: float | None, sample_s: int | None,
        report_s: int | None, run_dir: Path, say: Callable[[str], None] = print,
        refresh_s: float = 2.0, speed: float = 1.0,
        station_ids: Sequence[str] = (), registry: str = "phu-quoc",
        public_listen: tuple[str, int] | None = ("127.0.0.1", 8021)) -> DemoResult:
    """`speed` > 1 replays station time on a fast clock (hil.fastclock), ending now: the last
    `speed × seconds` of station life (a day without --seconds), so nothing is stamped in the
    future; the run stops when station time reaches the present. `station_ids` picks stations
    by id instead of the first `stations_n` (an unknown id raises boards.BoardsError naming
    it before anything starts). `registry` names another network under boards/registry (the
    real-parts bench): its stations get broker accounts beside the network's and the
    collector judges them by it."""
    from collector import services
    from collector.config import Settings, with_options
    from collector.pipeline import Collector
    from collector.services import credentials
    from collector.services.state import Layout
    from hil.fastclock import FastClock
    from hil.station import SimulatedStation
    from quantrac_common import paths

    reg = boards.registry(registry)
    chosen = [reg.get(sid) for sid in dict.fromkeys(station_ids)] if station_ids else \
        list(reg.stations[: stations_n or len(reg.stations)])
    if registry != credentials.DEFAULT_REGISTRY:
        # the services give its stations broker accounts (as `station credentials` does)
        credentials.remember_registry(Layout(paths.run_dir(run_dir)), registry)
    env = services.up(run_dir)
    say(f"services up: MQTT {env['QUANTRAC_MQTT_HOST']}:{env['QUANTRAC_MQTT_PORT']}, "
        f"InfluxDB {env['QUANTRAC_INFLUX_URL']} (env in {run_dir / 'services.env'})")
    # Records are stamped at the end of their period, so anything from this run is newer than this.
    started = time.time()
    clock = None
    if speed > 1:
        span = speed * seconds if seconds is not None else 86400.0
        clock = FastClock(speed, t0=started - span)
        seconds = span / speed
    since = started if clock is None else started - speed * seconds
    collector = Collector(with_options(Settings.from_env(env, run_dir=run_dir),
                                       collector={"registry": registry}))
    collector.start()
    site = _public(env, run_dir, public_listen, report_s, say)
    sims = [SimulatedStation(s, env, run_dir, sample_s=sample_s, report_s=report_s, seed=i,
                             clock=clock)
            for i, s in enumerate(chosen)]
    live = sys.stdout.isatty() and not os.environ.get("CI")
    try:
        if clock is not None:
            clock.start()
        for sim in sims:
            sim.start()
        every = (f"sample every {sample_s or 'profile'}s, report every {report_s or 'profile'}s"
                 + ("" if clock is None else f", station time ×{speed:g} from "
                    f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(since))} UTC"))
        say(f"{len(sims)} stations running ({every}); "
            + ("Ctrl-C to stop" if seconds is None else f"for {seconds:.0f}s"))
        last_plain = 0.0
        while seconds is None or time.time() - started < seconds:
            time.sleep(min(refresh_s, max(0.1, (seconds or 1e9) - (time.time() - started))))
            alive = {sim.station.id: sim.alive() for sim in sims}
            table = _table(chosen, collector.stats, started, alive)
            if live:
                say("\x1b[H\x1b[2J" + table)
            elif time.time() - last_plain >= 15:
                say(table.splitlines()[-1])
                last_plain = time.time()
    except KeyboardInterrupt:
        say("stopping …")
    finally:
        for sim in sims:
            sim.stop()
        collector.stop()
        if site is not None:
            site.stop()
    say(_table(chosen, collector.stats, started, None))
    stored = stored_points(env, since)
    missing = {s.id: sorted(set(s.params()) - set(stored.get(s.id, {}))) for s in chosen}
    missing = {k: v for k, v in missing.items() if v}
    return DemoResult(env=env, stored=stored, missing=missing)
