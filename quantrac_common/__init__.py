"""The bottom layer: helpers every other package may use, importing nothing of ours.

Layers, bottom first (checked by `lint-imports`, config in pyproject.toml):
quantrac_common → boards → collector → grafana | hil → quantrac (the CLI).
"""
