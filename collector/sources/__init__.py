"""Collector sources: one folder per plugin (plugin.py, README.md, sample.toml)."""
