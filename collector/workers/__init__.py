"""Station-sliced worker processes: `quantrac collector run --workers N` (README.md)."""
