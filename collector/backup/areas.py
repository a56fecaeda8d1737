"""What of a run folder a backup takes, and where each part lives: the areas.

An area is a folder (or one file) whose place the run folder and the collector's config decide:
`run` (the run folder: only `RUN_INCLUDES`), `collector` (`[collector] data_dir`), and the
folders and files the config may move out of it (`[egov] folder`, `open_data_dir`, `secrets`,
`[camera] folder`, `secrets`, `[collector] dead_letters`), taken only when they are outside the
areas before them. The table of what each holds is in README.md.

Never taken: what says something runs or is half-written (the `lock` and `*.lock` files
running collectors flock, `.<name>.tmp` files of an atomic replace, the collector's
`status.json` snapshot), the collector's log, and what `quantrac services up` writes afresh
(configs, services.env, services.json, the database's own files: `influxd backup` takes the
database).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector import config
from collector.camera.options import CameraOptions
from collector.dead_letters import replayed_path
from collector.egov.options import EgovOptions

RUN_INCLUDES = ("secrets", "mosquitto/tls", "mosquitto/mosquitto.db",
                "mosquitto/dynamic-security.json", "field",
                "regulations.json",  # the department's official limits (collector/rules)
                "review.jsonl",  # the operators' review marks (collector/review)
                "firmware")  # published firmware bundles and the fleet's good versions
BROKER_DB = "mosquitto/mosquitto.db"
# Files that say something runs or is half-written: a restored copy would mislead or block.
COLLECTOR_LOG = "collector.log"
SKIP_NAMES = frozenset({"lock", "status.json", COLLECTOR_LOG})
# Copied before the rest of their area: a cursor or a processor state saved after the
# segments it refers to were copied could point past them (see collector/backup/README.md).
FIRST_NAMES = ("state.json",)
FIRST_PREFIX = "cursor-"


@dataclass(frozen=True)
class Area:
    name: str
    path: Path  # a folder, or the file itself when `single`
    single: bool = False
    includes: tuple[str, ...] = ()  # only these paths under `path` (the run folder)


def options(doc: Mapping[str, Any]) -> tuple[config.CollectorOptions, EgovOptions, CameraOptions]:
    """The collector options that place files, from a TOML config (its other tables are the
    collector's business, but a wrong key in these three is named here too)."""
    return (config.build(config.CollectorOptions, doc.get("collector", {}), "collector"),
            config.build(EgovOptions, doc.get("egov", {}), "egov"),
            config.build(CameraOptions, doc.get("camera", {}), "camera"))


def locate(run_dir: Path, doc: Mapping[str, Any]) -> dict[str, Area]:
    """Every area of this run folder under this config, whether or not it exists yet."""
    coll, egov, cam = options(doc)
    data = config.data_dir(run_dir, coll)
    egov_dir = Path(egov.folder) if egov.folder else data / "egov"
    dead = config.dead_letters_path(run_dir, coll)
    areas = [
        Area("run", run_dir, includes=RUN_INCLUDES),
        Area("collector", data),
        Area("egov", egov_dir),
        Area("open-data", Path(egov.open_data_dir) if egov.open_data_dir
             else egov_dir / "open-data"),
        Area("camera", Path(cam.folder) if cam.folder else data / "camera"),
        Area("dead-letters", dead, single=True),
        Area("dead-letters-replayed", replayed_path(dead), single=True),
        Area("egov-secrets", Path(egov.secrets) if egov.secrets
             else run_dir / "secrets" / "egov.json", single=True),
        Area("camera-secrets", Path(cam.secrets) if cam.secrets
             else run_dir / "secrets" / "cameras.json", single=True),
    ]
    return {a.name: Area(a.name, Path(a.path).absolute(), a.single, a.includes) for a in areas}


def roots(area: Area) -> list[Path]:
    """The paths an area covers."""
    if area.includes:
        return [area.path / inc for inc in area.includes]
    return [area.path]


def _inside(path: Path, others: list[Path]) -> bool:
    return any(path == o or o in path.parents for o in others)


def taken(areas: Mapping[str, Area]) -> list[Area]:
    """The areas a backup takes: each one not already inside an area taken before it."""
    out: list[Area] = []
    covered: list[Path] = []
    for area in areas.values():
        if _inside(area.path, covered):
            continue
        out.append(area)
        covered.extend(roots(area))
    return out


def skipped(rel: Path) -> bool:
    name = rel.name
    return (name in SKIP_NAMES or name.endswith(".lock")
            or (name.startswith(".") and name.endswith(".tmp")))


def files(area: Area) -> Iterator[tuple[Path, Path]]:
    """(relative path, absolute path) of every regular file to copy, state and cursors first.
    Symbolic links and special files are not followed."""
    if area.single:
        if area.path.is_file() and not area.path.is_symlink():
            yield Path(area.path.name), area.path
        return
    found: list[tuple[Path, Path]] = []
    for top in roots(area):
        if top.is_symlink() or not top.exists():
            continue
        if top.is_file():
            found.append((top.relative_to(area.path), top))
            continue
        for p in sorted(top.rglob("*")):
            if p.is_file() and not p.is_symlink() and not _below_link(p, area.path):
                found.append((p.relative_to(area.path), p))
    found = [(rel, p) for rel, p in found if not skipped(rel)]
    first = [f for f in found if f[0].name in FIRST_NAMES or f[0].name.startswith(FIRST_PREFIX)]
    yield from first
    yield from (f for f in found if f not in first)


def _below_link(p: Path, top: Path) -> bool:
    return any(parent.is_symlink() for parent in p.parents if top in parent.parents)


def dirs(area: Area) -> Iterator[Path]:
    """Relative paths of the folders an area holds (for their modes); the area's own folder
    is `.` except for the run folder, whose mode is its owner's business."""
    if area.single:
        return
    if not area.includes and area.path.is_dir():
        yield Path(".")
    for top in roots(area):
        if top.is_dir() and not top.is_symlink():
            if area.includes:
                yield from _parents(top.relative_to(area.path))
            for p in sorted(top.rglob("*")):
                if p.is_dir() and not p.is_symlink() and not _below_link(p, area.path):
                    yield p.relative_to(area.path)


def _parents(rel: Path) -> list[Path]:
    return [*reversed([p for p in rel.parents if p != Path(".")]), rel]


def occupied(area: Area) -> list[Path]:
    """Files of this area that hold state in a target run folder (what a restore would
    replace), as absolute paths."""
    return [p for _, p in files(area)]
