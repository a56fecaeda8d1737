"""The collector's conventions: a README and sample per plugin, one options file."""

from __future__ import annotations

from pathlib import Path

import pytest

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"
PLUGINS = sorted(p for kind in ("sources", "processors", "sinks")
                 for p in (COLLECTOR / kind).iterdir() if p.is_dir() and p.name != "__pycache__")


def test_there_are_plugins():
    assert {p.name for p in PLUGINS} >= {"mqtt", "validate", "influxdb"}


@pytest.mark.parametrize("folder", PLUGINS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_each_plugin_has_readme_sample_and_plugin(folder):
    for name in ("README.md", "sample.toml", "plugin.py"):
        assert (folder / name).is_file(), f"{folder.name}/{name} is missing"
    sample = (folder / "sample.toml").read_text()
    assert sample.strip() in (folder / "README.md").read_text(), \
        f"{folder.name}/README.md does not include its sample.toml"
    assert sample.strip() in (COLLECTOR / "sample.toml").read_text(), \
        f"collector/sample.toml does not include {folder.name}/sample.toml"

