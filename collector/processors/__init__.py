"""Collector processors: one folder per plugin (plugin.py, README.md, sample.toml)."""
