"""How a parameter's values combine into a period's value: the arithmetic mean for all but
the sound levels, which add as energy (collector/domain/noise.py).

An hour of `laeq` records (one per report period, each the LAeq of that period) is their
energy mean: a station's report periods are equally long, so equal weights are the time
weights. A day or 8 hours of hourly LAeq values likewise. `lamax` of a period is the largest
of its parts and `lamin` the smallest. L10, L50 and L90 of an hour cannot be recovered from
those of its report periods: their arithmetic mean is kept, an approximation docs/noise.md
states.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from collector.domain import noise

Combine = Callable[[Sequence[float]], float]


def arithmetic(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def energy(values: Sequence[float]) -> float:
    return noise.laeq(values)


BY_PARAM: dict[str, Combine] = {"laeq": energy, "lamax": max, "lamin": min}


def for_param(param: str) -> Combine:
    """The combination `param`'s values take (the arithmetic mean unless named)."""
    return BY_PARAM.get(param, arithmetic)
