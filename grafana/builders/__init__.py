"""One module per dashboard; each has `build(lang) -> list[Dashboard]`."""

from grafana.builders import air, alerts, noise, overview, quality, wall, water

MODULES = (overview, air, water, alerts, quality, wall, noise)
