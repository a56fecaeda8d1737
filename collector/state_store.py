"""Processor state across restarts: one JSON file, replaced atomically.

The pipeline saves the chain's `state()`s only after the batches they reflect are durable in
the spool, so the saved state never remembers a message the spool does not hold. An unreadable
file is set aside (`state.json.bad`) and the processors start empty: losing QC history or the
de-duplication memory costs flags and counts, never data.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

from quantrac_common.files import write_atomic

log = logging.getLogger("quantrac.collector.state")


class StateStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        """processor name → its saved state; {} when there is none or it is unreadable."""
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            return doc
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError) as e:
            bad = self.path.with_name(self.path.name + ".bad")
            os.replace(self.path, bad)
            log.error("processor state %s unreadable (%s); moved to %s, starting without it",
                      self.path, e, bad)
            return {}

    def save(self, states: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # msgspec: the same JSON several times faster; the whole chain's state is a few MB
        write_atomic(self.path, msgspec.json.encode(states))
