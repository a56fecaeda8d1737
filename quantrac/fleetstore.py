"""What the operations room remembers of the fleet's firmware: the builds published (each signed
bundle, kept so a rollout or a rollback can stage it again) and the versions the whole fleet
ran healthy, newest last (what `quantrac fleet rollback` goes back to).

    <run>/firmware/bundles/<version>.qfw   every published bundle, as signed
    <run>/firmware/fleet.json              {"v": 1, "published": {ver: {"sha256", "bytes",
                                           "at"}}, "good": [ver, ...], "withdrawn": [ver, ...]}

A version is published once: the same version with other bytes is refused (a station that
holds half of one build must never be handed chunks of another under the same name).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from fwtools import fwbundle
from quantrac_common.files import write_atomic

FOLDER = "firmware"


class StoreError(ValueError):
    """A version that is not there, or cannot be added; the message says which and why."""


class FleetStore:
    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / FOLDER
        self.path = self.folder / "fleet.json"

    def load(self) -> dict:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"v": 1, "published": {}, "good": [], "withdrawn": []}
        except (OSError, ValueError) as e:
            raise StoreError(f"{self.path}: not readable as the fleet's record ({e})") from None
        if not isinstance(doc, dict) or doc.get("v") != 1:
            raise StoreError(f"{self.path}: not a version-1 fleet record")
        doc.setdefault("published", {})
        doc.setdefault("good", [])
        doc.setdefault("withdrawn", [])
        return doc

    def _save(self, doc: dict) -> None:
        write_atomic(self.path, json.dumps(doc, indent=1, sort_keys=True) + "\n")

    def bundle_path(self, version: str) -> Path:
        fwbundle.version_tuple(version)  # no path out of the folder from a typed version
        return self.folder / "bundles" / f"{version}.qfw"

    def published(self) -> list[str]:
        return sorted(self.load()["published"], key=fwbundle.version_tuple)

    def add(self, bundle: fwbundle.Bundle) -> bool:
        """Keep a verified bundle; False when this very build was published already."""
        doc = self.load()
        known = doc["published"].get(bundle.version)
        if known is not None:
            if known["sha256"] != bundle.sha256:
                raise StoreError(
                    f"version {bundle.version} is already published as another build "
                    f"(sha256 {known['sha256'][:12]}…): give the new build a new version")
            return False
        fwbundle.write(bundle, self.bundle_path(bundle.version))
        doc["published"][bundle.version] = {"sha256": bundle.sha256, "bytes": len(bundle.blob),
                                            "at": int(time.time())}
        self._save(doc)
        return True

    def bundle(self, version: str, public_modulus: bytes) -> fwbundle.Bundle:
        """The published bundle of `version`, its signature and sha256 checked again."""
        doc = self.load()
        if version not in doc["published"]:
            have = ", ".join(self.published()) or "none"
            raise StoreError(f"version {version!r} is not published (published: {have}); "
                             "`quantrac fleet publish BUNDLE` first")
        path = self.bundle_path(version)
        try:
            made = fwbundle.verify(path.read_bytes(), public_modulus)
        except OSError as e:
            raise StoreError(f"{path}: {e.strerror}") from None
        except fwbundle.BundleError as e:
            raise StoreError(f"{path}: refused: {e}") from None
        if made.sha256 != doc["published"][version]["sha256"] or made.version != version:
            raise StoreError(f"{path}: not the build published as {version}")
        return made

    def good(self) -> list[str]:
        return list(self.load()["good"])

    def mark_good(self, version: str, before: str | None = None) -> None:
        """A rollout of `version` completed; `before` is what the fleet ran until then (a
        first flash is never published through here, so the first rollout names it)."""
        doc = self.load()
        good = [v for v in doc["good"] if v != version]
        if before and before != version and before not in good:
            good.append(before)
        good.append(version)
        doc["good"] = good
        doc["withdrawn"] = [v for v in doc["withdrawn"] if v != version]
        self._save(doc)

    def previous_good(self) -> tuple[str, str]:
        """(the fleet's current good version, the one before it)."""
        good = self.good()
        if len(good) < 2:
            raise StoreError("no earlier good version on record (a completed `fleet rollout` "
                             "records one): name it with --to VERSION")
        return good[-1], good[-2]

    def rolled_back(self, to: str) -> None:
        """The fleet went back to `to`: every good version after it is withdrawn."""
        doc = self.load()
        if to in doc["good"]:
            cut = doc["good"].index(to) + 1
            doc["withdrawn"] += [v for v in doc["good"][cut:] if v not in doc["withdrawn"]]
            doc["good"] = doc["good"][:cut]
        else:
            doc["good"].append(to)
        self._save(doc)
