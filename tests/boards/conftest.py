"""Fixtures of the boards tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import boards

Edit = Callable[[dict], None]


@pytest.fixture
def edited(monkeypatch) -> Iterator[Callable[[str, Edit], None]]:
    """edited("catalog/qt-ph-485", fn): the loader reads that file as fn leaves it."""
    real = boards._read
    edits: dict[str, list[Edit]] = {}

    def read(path: Path) -> dict:
        doc = real(path)
        for fn in edits.get(f"{path.parent.name}/{path.stem}", []):
            fn(doc)
        return doc

    def edit(name: str, fn: Edit) -> None:
        edits.setdefault(name, []).append(fn)
        for cached in (boards.catalog, boards.profile, boards.registry):
            cached.cache_clear()

    monkeypatch.setattr(boards, "_read", read)
    yield edit
    monkeypatch.undo()
    for cached in (boards.catalog, boards.profile, boards.registry):
        cached.cache_clear()
