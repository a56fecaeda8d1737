"""The database part: `influxd backup -portable` and `influxd restore -portable` through the
server's backup/restore RPC port (`bind-address` in the run folder's influxdb.conf, loopback
only, chosen free at the first `services up`; recorded in services.json).

InfluxDB 1.6's portable restore refuses a database name that exists, and `services up` has
just created the (empty) database in a fresh run folder. So the empty database is dropped and
the backup restored under the same name: its retention policies, shard groups and data come
back exactly as they were (a restore under a temporary name plus SELECT INTO would rewrite
every point and lose the policy each point was in). Dropping a database also drops the grants
on it, which the next `services up` gives again.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from collector.backup.manifest import BackupError
from collector.services import influxdb
from collector.services.ports import HOST
from collector.services.state import ServicesError
from quantrac_common.influxql import quote_ident

FOLDER = "influxdb"  # inside the backup
TIMEOUT_S = 6 * 3600.0  # years of readings; a stuck tool still ends


def binary() -> str:
    return shutil.which("influxd") or "/usr/bin/influxd"


def version() -> str:
    try:
        out = subprocess.run([binary(), "version"], capture_output=True, text=True,
                             timeout=30, check=False)
    except OSError as e:
        raise BackupError(f"cannot run {binary()}: {e}") from None
    return out.stdout.strip() or out.stderr.strip()


def _run(argv: list[str], what: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BackupError(f"{what}: {' '.join(argv)}: {e}") from None
    text = (out.stdout + out.stderr).strip()
    if out.returncode != 0:
        tail = "\n".join(text.splitlines()[-5:])
        raise BackupError(f"{what} failed (exit {out.returncode}): {tail}")
    return text


def backup(rpc_port: int, database: str, dest: Path) -> None:
    _run([binary(), "backup", "-portable", "-host", f"{HOST}:{rpc_port}", "-db", database,
          str(dest)], f"influxd backup of database {database!r}")


def restore(rpc_port: int, source_db: str, target_db: str, src: Path) -> None:
    _run([binary(), "restore", "-portable", "-host", f"{HOST}:{rpc_port}", "-db", source_db,
          "-newdb", target_db, str(src)], f"influxd restore of database {source_db!r}")


def _q(base: str, admin: tuple[str, str], q: str) -> dict:
    status, doc = influxdb.query(base, q, admin)
    err = doc.get("error") or next((r.get("error") for r in doc.get("results", [])
                                    if r.get("error")), None)
    if status != 200 or err:
        raise BackupError(f"InfluxDB at {base}: {q!r} answered {status}: {err}")
    return doc


def _values(doc: dict) -> list[list]:
    out = []
    for result in doc.get("results", []):
        for series in result.get("series", []) or []:
            out.extend(series.get("values") or [])
    return out


def measurements(base: str, admin: tuple[str, str], database: str) -> list[str]:
    doc = _q(base, admin, f"SHOW MEASUREMENTS ON {quote_ident(database)}")
    return sorted(row[0] for row in _values(doc))


def policies(base: str, admin: tuple[str, str], database: str) -> dict[str, str]:
    """policy → duration as the server shows it (`INF` where it shows 0s)."""
    doc = _q(base, admin, f"SHOW RETENTION POLICIES ON {quote_ident(database)}")
    return {row[0]: "INF" if row[1] == "0s" else row[1] for row in _values(doc)}


def holds_series(base: str, admin: tuple[str, str], database: str) -> bool:
    doc = _q(base, admin, f"SHOW SERIES ON {quote_ident(database)} LIMIT 1")
    return bool(_values(doc))


def drop(base: str, admin: tuple[str, str], database: str) -> None:
    try:
        _q(base, admin, f"DROP DATABASE {quote_ident(database)}")
    except ServicesError as e:
        raise BackupError(str(e)) from None
