"""Fixtures of the boards tests: `edited` lives in tests/conftest.py (the collector and
grafana tests edit boards files too)."""
