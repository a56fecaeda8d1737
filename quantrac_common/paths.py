"""Where the checkout, the run folder and the fetched MicroPython libraries live."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"
DOCS = ROOT / "docs"
PROTOCOL_SCHEMA = DOCS / "protocol-v1.schema.json"
MPY_DEPS = ROOT / ".deps" / "micropython"


def run_dir(override: str | os.PathLike | None = None) -> Path:
    """The project-local run folder: services' data and logs, services.env, demo state.

    QUANTRAC_RUN_DIR moves it (tests give every session its own); default `.run/` in the checkout.
    """
    path = Path(override or os.environ.get("QUANTRAC_RUN_DIR") or ROOT / ".run")
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()
