"""Test modules are imported by their file name alone (no __init__.py, pytest's default
import mode): two with one name in different folders stop the whole run at collection, after
each passed on its own."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_two_test_modules_or_helpers_share_a_file_name():
    where: dict[str, list[str]] = defaultdict(list)
    for f in TESTS.rglob("*.py"):
        if f.name not in ("conftest.py", "__init__.py") and "artifacts" not in f.parts:
            where[f.name].append(str(f.relative_to(TESTS)))
    assert {n: p for n, p in where.items() if len(p) > 1} == {}
