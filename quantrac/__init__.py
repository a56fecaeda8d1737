"""The `quantrac` command and the glue that spans firmware, simulators, collector and services."""

__version__ = "0.1.0"
