"""QC limits of the water parameters the regulations need: an impossible value fails (flag 4,
left out of every mean), an implausible one for the kind of water is suspect (flag 3), a
normal one is good."""

from __future__ import annotations

import pytest

from collector.contracts import QC_FAIL, QC_GOOD, QC_SUSPECT, Batch, Reading
from collector.processors.qc import checks as c
from collector.processors.qc.plugin import QcProcessor

T0 = 1763755200
KIND = {"pq-tap-01": "tap_water", "pq-ww-01": "wastewater", "pq-sea-01": "sea_water"}


def judged(station: str, param: str, unit: str, value: float) -> tuple[int, int]:
    r = Reading(station=station, kind=KIND[station], param=param, unit=unit, time=T0,
                value=value, status=0)
    (out,) = QcProcessor().process(Batch([], readings=[r])).readings
    return out.qc, out.qc_bits


@pytest.mark.parametrize("station, param, unit, good, suspect, impossible", [
    ("pq-tap-01", "turbidity", "NTU", 0.4, 12.0, -0.5),
    ("pq-tap-01", "chlorine", "mg/L", 0.5, 3.5, -0.2),
    ("pq-ww-01", "cod", "mg/L", 45.0, 800.0, -3.0),
    ("pq-ww-01", "flow", "m3/h", 80.0, None, -10.0),
    ("pq-sea-01", "conductivity", "mS/cm", 50.5, 8.0, -1.0),
    ("pq-sea-01", "salinity", "PSU", 33.0, 5.0, -0.1),
])
def test_water_parameters_are_flagged_against_their_limits(station, param, unit, good, suspect,
                                                          impossible):
    assert judged(station, param, unit, good) == (QC_GOOD, 0)
    if suspect is not None:
        assert judged(station, param, unit, suspect) == (QC_SUSPECT, c.CLIMATOLOGY)
    qc, bits = judged(station, param, unit, impossible)
    assert qc == QC_FAIL and bits & c.GROSS_RANGE, (param, bits)


@pytest.mark.parametrize("station, param, unit, value", [
    ("pq-ww-01", "flow", "m3/h", 150000.0),  # beyond the meter and beyond any outfall
    ("pq-sea-01", "salinity", "PSU", 80.0),  # above the brine end of the PSS-78 scale
    ("pq-tap-01", "chlorine", "mg/L", 25.0),
])
def test_values_above_what_is_physically_possible_fail(station, param, unit, value):
    qc, bits = judged(station, param, unit, value)
    assert qc == QC_FAIL and bits & c.GROSS_RANGE and bits & c.SENSOR_RANGE
