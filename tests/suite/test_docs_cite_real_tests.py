"""The docs prove claims by naming tests (docs/security.md's tables, the READMEs): every
`file.py::test_name` they cite (and every `::test_name` that follows one, on the same file)
is a test that exists, so a test renamed or removed cannot leave a claim without its proof."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
CITE = re.compile(r"`(?P<file>(?:tests/)?[\w/]+\.py)?::(?P<name>test_\w+)")


def _docs() -> list[Path]:
    return sorted([ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("*/README.md")])


def _test_file(cited: str) -> Path | None:
    rel = cited.removeprefix("tests/")
    if (TESTS / rel).is_file():
        return TESTS / rel
    found = sorted(TESTS.rglob(Path(rel).name)) if "/" not in rel else []
    return found[0] if len(found) == 1 else None


def test_every_test_the_docs_cite_exists():
    missing = []
    for doc in _docs():
        current = None
        for m in CITE.finditer(doc.read_text()):
            if m["file"]:
                current = m["file"]
            if current is None:
                continue
            path = _test_file(current)
            if path is None:
                missing.append(f"{doc.relative_to(ROOT)}: {current} (no such test file)")
            elif not re.search(rf"^\s*(?:async )?def {m['name']}\(", path.read_text(), re.M):
                missing.append(f"{doc.relative_to(ROOT)}: {current}::{m['name']}")
    assert not missing, "\n".join(missing)


def test_the_check_sees_a_citation_of_a_test_that_is_not_there():
    text = "`collector/test_services.py::test_no_such_test_here`"
    m = CITE.search(text)
    path = _test_file(m["file"])
    assert path is not None and not re.search(rf"def {m['name']}\(", path.read_text())
