"""`quantrac backup DIR` and `quantrac restore DIR`: a run folder's database and state, and back.

A backup folder holds the database (`influxdb/`, InfluxDB's own portable backup), the run
folder's state by area (`run/`, `collector/`, …: collector/backup/areas.py) with every file's
mode kept (secrets stay 0600 in 0700 folders; the backup folder itself is 0700), and
`manifest.json` (sha256 of every file, versions), written last. README.md beside this file
says what is taken, in which order and why, and what a backup during operation means.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import platform
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from collector import config
from collector import services as svc
from collector.backup import areas as areas_mod
from collector.backup import database, manifest
from collector.backup.manifest import BackupError
from collector.services import influxdb, mosquitto
from collector.services.state import Layout, ServicesError, read_json
from quantrac_common import paths

__all__ = ["BackupError", "backup", "restore"]

BROKER_SAVE_WAIT_S = 10.0


def _admin(env: dict[str, str]) -> tuple[str, str]:
    return env["QUANTRAC_INFLUX_ADMIN_USER"], env["QUANTRAC_INFLUX_ADMIN_PASSWORD"]


def _options(config_file: Path | str | None) -> dict[str, Any]:
    try:
        return config.load_toml(Path(config_file)) if config_file else {}
    except config.ConfigError as e:
        raise BackupError(str(e)) from None


def _areas(run_dir: Path, doc: dict[str, Any]) -> dict[str, areas_mod.Area]:
    try:
        return areas_mod.locate(run_dir, doc)
    except config.ConfigError as e:
        raise BackupError(f"collector config: {e}") from None


def _running(run_dir: Path) -> dict[str, dict]:
    return {row["name"]: row for row in svc.status(run_dir)}


def _rpc_port(layout: Layout) -> int:
    port = (read_json(layout.record).get(influxdb.NAME) or {}).get("rpc_port")
    if not isinstance(port, int):
        raise BackupError(f"{layout.record}: no backup port recorded for InfluxDB; start the "
                          "services once with `quantrac services up`")
    return port


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "unknown"
    lines = (out.stdout + out.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def _quantrac_version() -> str:
    from importlib import metadata

    try:
        version = metadata.version("quantrac")
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = _tool_version(["git", "-C", str(paths.ROOT), "rev-parse", "--short", "HEAD"])
    return f"{version} ({commit})" if commit and " " not in commit else version


@contextlib.contextmanager
def _spool_quiet(data_dir: Path) -> Iterator[bool]:
    """Hold the spool's lock while the collector's files are copied, so no collector starts
    in between; yields True when a running collector holds it (the copy is then of files in
    use: see README.md)."""
    lock = data_dir / "spool" / "lock"
    if not lock.exists():
        yield False
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield True
            return
        try:
            yield False
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _save_broker(layout: Layout, rows: dict[str, dict]) -> str:
    """Have a running broker write its persistence file now (SIGUSR1), so the copy holds the
    sessions and queued messages of this moment rather than of the last autosave."""
    db = layout.root / areas_mod.BROKER_DB
    rec = rows.get(mosquitto.NAME) or {}
    if not rec.get("running"):
        return "broker stopped: its persistence file is as it left it"

    def stamp() -> tuple[int, int] | None:
        try:
            st = db.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    before = stamp()
    try:
        os.kill(rec["pid"], signal.SIGUSR1)
    except OSError as e:
        return (f"broker running, could not ask it to save ({e}): persistence copied as last "
                f"autosaved (at most {mosquitto.AUTOSAVE_INTERVAL_S} s old)")
    deadline = time.monotonic() + BROKER_SAVE_WAIT_S
    while time.monotonic() < deadline:
        now = stamp()
        if now is not None and now != before:
            time.sleep(0.2)  # the broker renames its new file into place: let it finish
            return "broker running: it saved its persistence file on request just before the copy"
        time.sleep(0.05)
    return (f"broker running, did not save within {BROKER_SAVE_WAIT_S:.0f} s: persistence "
            f"copied as last autosaved (at most {mosquitto.AUTOSAVE_INTERVAL_S} s old)")


def _new_folder(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty folder: a backup goes into a new "
                          "folder of its own")
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest.chmod(0o700)


def backup(dest: Path | str, run_dir: Path | str | None = None,
           config_file: Path | str | None = None) -> dict[str, Any]:
    """Back the run folder up into the new folder `dest`; the manifest written."""
    run = paths.run_dir(run_dir)
    layout = Layout(run)
    dest = Path(dest).absolute()
    if run == dest or run in dest.parents:
        raise BackupError(f"{dest} is inside the run folder {run}; put backups elsewhere")
    try:
        env = svc.load_env(run)
    except ServicesError as e:
        raise BackupError(str(e)) from None
    rows = _running(run)
    if not (rows.get(influxdb.NAME) or {}).get("running"):
        raise BackupError(f"InfluxDB of {run} is not running: start it with `quantrac services "
                          "up` (the backup reads the database through its backup port)")
    rpc = _rpc_port(layout)
    areas = _areas(run, _options(config_file))
    _new_folder(dest)

    files: dict[str, dict] = {}
    dirs: dict[str, str] = {}

    def take(area: areas_mod.Area) -> None:
        for rel in areas_mod.dirs(area):
            key = f"{area.name}/{rel}" if rel != Path(".") else area.name
            dirs[key] = f"{(area.path / rel).stat().st_mode & 0o777:04o}"
        for rel, src in areas_mod.files(area):
            mode = src.stat().st_mode
            key = f"{area.name}/{rel.as_posix()}"
            try:
                size, sha = manifest.copy(src, dest / key, mode)
            except FileNotFoundError:
                continue  # removed while we walked (a spool segment every sink had passed)
            files[key] = manifest.entry(size, sha, mode)

    # Order matters (README.md): the broker's queue, then the collector's state, then the
    # database, each at least as new as the one before, so nothing acknowledged before the
    # backup started is missing from the copy; what is in two places is written twice, which
    # overwrites.
    broker = _save_broker(layout, rows)
    taken = areas_mod.taken(areas)
    for area in taken:
        if area.name == "run":
            take(area)
    with _spool_quiet(areas["collector"].path) as collector_running:
        for area in taken:
            if area.name != "run":
                take(area)
    db = env["QUANTRAC_INFLUX_DB"]
    base = env["QUANTRAC_INFLUX_URL"]
    # Measurements are only ever added: every one listed now is in the backup taken after.
    measured = database.measurements(base, _admin(env), db)
    database.backup(rpc, db, dest / database.FOLDER)
    for p in sorted((dest / database.FOLDER).rglob("*")):
        if p.is_file():
            p.chmod(0o600)
            size, sha = manifest.digest(p)
            files[p.relative_to(dest).as_posix()] = manifest.entry(size, sha, 0o600)
    for p in sorted(dest.rglob("*")):
        if p.is_dir():
            p.chmod(0o700)  # the backup's own folders: only its owner may look inside
    doc = {
        "format": manifest.FORMAT, "version": manifest.VERSION,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(), "run_dir": str(run),
        "versions": {"quantrac": _quantrac_version(), "influxd": database.version(),
                     "mosquitto": _tool_version([mosquitto.binary(), "-h"]),
                     "python": platform.python_version()},
        "database": {"name": db, "folder": database.FOLDER, "measurements": measured,
                     "retention_policies": database.policies(base, _admin(env), db)},
        "areas": {a.name: {"path": str(a.path), "single": a.single} for a in taken},
        "broker": broker, "collector_running": collector_running,
        "dirs": dirs, "files": files,
    }
    manifest.write(dest, doc)
    return doc


def _occupied(run: Path, areas: dict[str, areas_mod.Area]) -> list[str]:
    """What in a run folder a restore would replace: state files and database files."""
    found = [str(p) for area in areas.values() for p in areas_mod.occupied(area)]
    influx = Layout(run).influxdb
    for what in (influx / "meta" / "meta.db", influx / "data"):
        if what.is_file() or (what.is_dir() and any(what.iterdir())):
            found.append(str(what))
    return sorted(set(found))


def _clear(run: Path, areas: dict[str, areas_mod.Area]) -> None:
    """--force: what the restore replaces goes first, so nothing old mixes with the backup."""
    for area in areas.values():
        if area.name != "run" and (area.path == Path(area.path.anchor) or area.path in
                                   run.parents or area.path == Path.home()):
            raise BackupError(f"the {area.name} folder {area.path} of the collector config "
                              "would take the run folder or more with it; nothing was removed")
    influx = Layout(run).influxdb
    for sub in ("meta", "data", "wal"):
        shutil.rmtree(influx / sub, ignore_errors=True)
    for area in areas.values():
        for p in areas_mod.roots(area):
            if p.is_dir() and not p.is_symlink():
                for child in p.iterdir():
                    if child.name == areas_mod.COLLECTOR_LOG:
                        continue  # the collector's log outlives a restore
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            elif p.exists() or p.is_symlink():
                p.unlink()


def _put_files(src: Path, doc: dict[str, Any], areas: dict[str, areas_mod.Area]) -> int:
    count = 0
    for key, mode in sorted(doc["dirs"].items()):
        name, _, rel = key.partition("/")
        area = areas.get(name)
        if area is None or area.single:
            continue
        d = area.path / rel if rel else area.path
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(manifest.mode_of(mode, key))
    for name in doc["areas"]:
        area = areas.get(name)
        if area is None:
            raise BackupError(f"the backup holds an area {name!r} this quantrac does not know")
        for rel, e in manifest.area_files(doc, name):
            target = area.path if area.single else area.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() or target.is_symlink():
                target.unlink()
            size, sha = manifest.copy(src / name / rel, target, manifest.mode_of(e["mode"], rel))
            if (size, sha) != (e["size"], e["sha256"]):
                raise BackupError(f"{src / name / rel} changed while it was restored")
            count += 1
    return count


def restore(src: Path | str, run_dir: Path | str | None = None,
            config_file: Path | str | None = None, force: bool = False) -> dict[str, Any]:
    """Restore the backup folder `src` into a run folder; what was done.

    The run folder must hold no data (no secrets, database, spool, broker persistence or
    station workspaces) unless `force`, which replaces all of that. The services are started
    for the database restore and left as they were found (stopped, or running).
    """
    src = Path(src).absolute()
    doc = manifest.read(src)
    manifest.verify(src, doc)
    run = paths.run_dir(run_dir)
    areas = _areas(run, _options(config_file))
    unknown = sorted(set(doc["areas"]) - set(areas))
    if unknown:
        raise BackupError(f"{src}: the backup holds areas {unknown} this quantrac does not know")
    before = _running(run)
    was_running = any(r["running"] for r in before.values())
    held = _occupied(run, areas)
    if held and not force:
        raise BackupError(
            f"{run} holds data already ({', '.join(held[:5])}"
            f"{f' and {len(held) - 5} more' if len(held) > 5 else ''}): restore into a fresh run "
            "folder, or pass --force to replace its database and state with the backup's")
    with _spool_quiet(areas["collector"].path) as collector_running:
        if collector_running:
            raise BackupError(f"a collector is running on {areas['collector'].path}: stop it "
                              "before restoring (`systemctl stop quantrac-collector`)")
    warnings = []
    here = database.version()
    made_with = doc.get("versions", {}).get("influxd")
    if here != made_with:
        warnings.append(f"the backup was made with {made_with!r}, this server is {here!r}")
    if was_running:
        svc.down(run)
    if force:
        _clear(run, areas)
    restored = _put_files(src, doc, areas)
    try:
        env = svc.up(run)
        base, admin = env["QUANTRAC_INFLUX_URL"], _admin(env)
        target = env["QUANTRAC_INFLUX_DB"]
        if database.holds_series(base, admin, target) and not force:
            raise BackupError(f"database {target!r} of {run} holds data; nothing was dropped "
                              "(pass --force to replace it)")
        database.drop(base, admin, target)
        database.restore(_rpc_port(Layout(run)), doc["database"]["name"], target,
                         src / doc["database"]["folder"])
        svc.up(run)  # grants on the restored database, retention policies from retention.json
        missing = sorted(set(doc["database"].get("measurements", []))
                         - set(database.measurements(base, admin, target)))
        if missing:
            raise BackupError(f"after the restore, database {target!r} lacks measurements "
                              f"{missing} that the backup listed")
    finally:
        if not was_running:
            svc.down(run)
    return {"run_dir": str(run), "files": restored, "database": target,
            "measurements": len(doc["database"].get("measurements", [])),
            "running": was_running, "warnings": warnings, "backup": doc}
