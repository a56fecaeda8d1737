"""Fetch the firmware's MicroPython libraries by name through pip's configured index.

They are old-style sdists with no setup.py, which `pip download` refuses to prepare, so this
asks the same index pip uses (PEP 691 JSON, PEP 503 HTML as fallback), checks the pinned sha256
and unpacks only the listed files into .deps/micropython.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

from quantrac_common.paths import FIRMWARE, MPY_DEPS


class DepsError(RuntimeError):
    pass


def index_url() -> str:
    """pip's own index: PIP_INDEX_URL, then pip's config, then pip's built-in default."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True, check=False).stdout
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".index-url"):
            return value.strip().strip("'\"")
    from pip._internal.models.index import PyPI  # pip's default, so no host is written here

    return PyPI.simple_url


def _file_url(index: str, name: str, filename: str) -> str:
    project = re.sub(r"[-_.]+", "-", name).lower()
    url = f"{index.rstrip('/')}/{project}/"
    req = urllib.request.Request(url, headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = resp.read().decode()
        if "json" in resp.headers.get("Content-Type", ""):
            for f in json.loads(body)["files"]:
                if f["filename"] == filename:
                    return urllib.parse.urljoin(url, f["url"])
        else:
            for href in re.findall(r'href="([^"]+)"', body):
                if href.split("#")[0].rsplit("/", 1)[-1] == filename:
                    return urllib.parse.urljoin(url, href)
    raise DepsError(f"{name}: {filename} is not on the index {index}")


def _installed_ok(pkg: dict, dest: Path) -> bool:
    stamp = dest / f".{pkg['name']}.sha256"
    return stamp.exists() and stamp.read_text().strip() == pkg["sha256"] and all(
        (dest / target).exists() for target in pkg["extract"].values())


def fetch(dest: Path = MPY_DEPS, manifest: Path = FIRMWARE / "deps.json", say=print) -> list[str]:
    """Make `dest` hold every pinned library; returns the names it had to download."""
    packages = json.loads(manifest.read_text())["packages"]
    fetched = []
    for pkg in packages:
        if _installed_ok(pkg, dest):
            continue
        url = _file_url(index_url(), pkg["name"], pkg["file"])
        say(f"firmware deps: fetching {pkg['name']} {pkg['version']}")
        with urllib.request.urlopen(url, timeout=120) as resp:
            blob = resp.read()
        digest = hashlib.sha256(blob).hexdigest()
        if digest != pkg["sha256"]:
            raise DepsError(f"{pkg['file']}: sha256 {digest} is not the pinned {pkg['sha256']}")
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
            for source, target in pkg["extract"].items():
                if source not in members:
                    raise DepsError(f"{pkg['file']}: has no {source}")
                out = dest / target
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(tar.extractfile(members[source]).read())
        (dest / f".{pkg['name']}.sha256").write_text(pkg["sha256"] + "\n")
        fetched.append(pkg["name"])
    return fetched
