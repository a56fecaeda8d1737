"""Node-RED for `quantrac bench ingest` (e, e2): pinned npm packages in a cache folder of the
bench's own, never a project dependency.

`ensure()` returns the `red.js` to start, installing it once with npm's default registry (by
package name only). Without `node`/`npm` the bench installs the Debian packages when it runs
as root; otherwise, or when the install fails, it raises `Unavailable` with the reason and the
bench prints its other rows.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

NODE_RED = "4.1.8"  # the last line that runs on Debian 12's Node.js 18 (5.x wants Node 22)
INFLUXDB_NODES = "0.7.0"
PACKAGES = {"node-red": NODE_RED, "node-red-contrib-influxdb": INFLUXDB_NODES}
NODE_MIN = (18, 5)  # node-red 4.1's `engines`
INSTALL_TIMEOUT_S = 900.0
MARKER = "quantrac-installed.json"  # written last: a cut-short install is never taken as done


class Unavailable(RuntimeError):
    """Node-RED cannot run here; the message says why (the bench skips rows e and e2)."""


def cache_dir() -> Path:
    """Root's cache is /var/cache: Node-RED runs as the services account, which cannot enter
    root's home. Anyone else: $XDG_CACHE_HOME or ~/.cache."""
    if os.geteuid() == 0:
        return Path("/var/cache/quantrac/nodered")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quantrac" / "nodered"


def _tools(search_path: str | None) -> tuple[str | None, str | None]:
    return shutil.which("node", path=search_path), shutil.which("npm", path=search_path)


def _apt_install(say: Callable[[str], None]) -> None:
    say("node/npm missing: installing the Debian packages nodejs and npm")
    cmd = ["apt-get", "install", "-y", "nodejs", "npm"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (1, 2):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if r.returncode == 0:
            return
        if attempt == 1:  # package lists may be empty on a fresh machine
            subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=900)
    tail = "\n".join((r.stderr or r.stdout).splitlines()[-5:])
    raise Unavailable(f"`apt-get install -y nodejs npm` failed:\n{tail}")


def node_version(node: str) -> tuple[int, int]:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    try:
        major, minor = out.stdout.strip().lstrip("v").split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        raise Unavailable(f"`{node} --version` said {out.stdout.strip()!r}") from None


def ensure(say: Callable[[str], None] = print, search_path: str | None = None,
           may_install: bool | None = None, cache: Path | None = None) -> tuple[str, Path]:
    """(node, red.js) ready to start. `search_path` overrides PATH for finding node and npm;
    `may_install` (default: when root) lets the Debian packages be installed."""
    node, npm = _tools(search_path)
    if not (node and npm):
        if may_install is None:
            may_install = os.geteuid() == 0
        if not may_install:
            missing = " and ".join(n for n, p in (("node", node), ("npm", npm)) if not p)
            raise Unavailable(f"{missing} not found on PATH (as root the bench installs the "
                              "Debian packages nodejs and npm; otherwise install them)")
        _apt_install(say)
        node, npm = _tools(search_path)
        if not (node and npm):
            raise Unavailable("nodejs and npm were installed but node/npm are not on PATH")
    if node_version(node) < NODE_MIN:
        have = ".".join(map(str, node_version(node)))
        raise Unavailable(f"node {have} is older than {'.'.join(map(str, NODE_MIN))}, "
                          f"which Node-RED {NODE_RED} needs")
    if cache is None:
        cache = cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the services account must be able to enter it
            for d in (cache.parent, cache):
                d.chmod(0o755)
    red = cache / "node_modules" / "node-red" / "red.js"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a test and a bench may install at the same time
        if _installed(cache) != PACKAGES or not red.is_file():
            _npm_install(npm, cache, say)
    return node, red


def _installed(cache: Path) -> dict | None:
    try:
        return json.loads((cache / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _npm_install(npm: str, cache: Path, say: Callable[[str], None]) -> None:
    (cache / MARKER).unlink(missing_ok=True)
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    say(f"installing {', '.join(specs)} into {cache} (once)")
    # --ignore-scripts: no package's install script runs (none of these needs one; bcrypt's
    # native build is optional and Node-RED falls back to bcryptjs). umask 022: Node-RED runs
    # as the services account when we are root, which must read what root installed.
    cmd = [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund",
           "--ignore-scripts", "--no-update-notifier", *specs]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                           stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0o022))
    except subprocess.TimeoutExpired:
        raise Unavailable(f"npm install did not finish in {INSTALL_TIMEOUT_S:.0f} s") from None
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-6:])
        raise Unavailable(f"npm install {' '.join(specs)} failed (exit {r.returncode}):\n{tail}")
    (cache / MARKER).write_text(json.dumps(PACKAGES) + "\n")
