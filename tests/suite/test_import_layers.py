"""The packages' layer order (pyproject.toml [tool.importlinter]) holds, and breaking it fails
the check scripts/test runs: each case copies the packages, adds one import that goes the
wrong way and runs `lint-imports` on the copy."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONFIG = PYPROJECT["tool"]["importlinter"]
CONTRACTS = {c["id"]: c["name"] for c in CONFIG["contracts"]}
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def copy_packages(dest: Path) -> Path:
    """The root packages' Python files and pyproject.toml, nothing else (no data, no caches)."""
    def not_python(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if n == "__pycache__"
                or (not n.endswith(".py") and not (Path(folder) / n).is_dir())]

    for name in CONFIG["root_packages"]:
        shutil.copytree(ROOT / name, dest / name, ignore=not_python)
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def lint(folder: Path) -> tuple[int, str]:
    """lint-imports on `folder`'s packages (PYTHONPATH first, so never the checkout's own)."""
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} missing: pip install -e '.[dev]'"
    env = {**os.environ, "PYTHONPATH": str(folder)}
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)
    # the report wraps long contract names; compare with whitespace folded
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def test_the_packages_keep_every_contract(tmp_path: Path) -> None:
    code, out = lint(copy_packages(tmp_path))
    assert code == 0, out
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in out, out


@pytest.mark.parametrize(("module", "line", "broken", "says"), [
    ("boards/__init__.py", "import collector", "layers",
     "boards is not allowed to import collector"),
    # a function-level import counts too (the CLI and the runner import lazily)
    ("collector/contracts.py", "def _late():\n    from quantrac.cli import main  # noqa", "layers",
     "collector is not allowed to import quantrac"),
    ("quantrac_common/paths.py", "import boards", "layers",
     "quantrac_common is not allowed to import boards"),
    ("hil/__init__.py", "from grafana import queries", "siblings",
     "hil is not allowed to import grafana"),
    ("public/__init__.py", "from grafana import facts", "siblings",
     "public is not allowed to import grafana"),
    ("collector/__init__.py", "import public", "layers",
     "collector is not allowed to import public"),
])
def test_a_wrong_way_import_breaks_its_contract(tmp_path: Path, module: str, line: str,
                                                broken: str, says: str) -> None:
    folder = copy_packages(tmp_path)
    with open(folder / module, "a", encoding="utf-8") as f:
        f.write(f"\n{line}\n")
    code, out = lint(folder)
    assert code != 0, out
    assert f"{CONTRACTS[broken]} BROKEN" in out, out
    assert says in out, out


def test_every_package_has_a_layer() -> None:
    """A new top-level package (a forecast, a public page) cannot escape the check."""
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")
                if any(fnmatch.fnmatch(p.parent.name, pat) for pat in include)}
    assert set(CONFIG["root_packages"]) == packages
    layers = next(c["layers"] for c in CONFIG["contracts"] if c["type"] == "layers")
    in_layers = {name.strip() for layer in layers for name in layer.split("|")}
    assert in_layers == packages
    first_party = set(PYPROJECT["tool"]["ruff"]["lint"]["isort"]["known-first-party"])
    assert first_party == packages


def test_scripts_test_runs_the_check_before_pytest() -> None:
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "scripts/test").read_text().splitlines()]
    ruff = lines.index(".venv/bin/ruff check .")
    check = next(i for i, ln in enumerate(lines) if ln.startswith(".venv/bin/lint-imports"))
    pytest_run = next(i for i, ln in enumerate(lines) if "-m pytest" in ln)
    assert ruff < check < pytest_run
