"""Station IP cameras: snapshots on alerts and on a schedule (README.md)."""
