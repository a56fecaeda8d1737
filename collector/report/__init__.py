"""Bulletins: the department's daily and monthly report, read from InfluxDB (README.md)."""
