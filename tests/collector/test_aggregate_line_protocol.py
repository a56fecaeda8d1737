"""Derived points (`mean`, `aqi`, `alert`, …) → line protocol (the live test stores them)."""

from __future__ import annotations

import pytest

from collector.contracts import Point
from collector.sinks.influxdb.line_protocol import line, point_line

T = 1763758800


def test_a_mean_point_as_documented():
    p = Point("mean", {"station": "pq-air-01", "kind": "air", "param": "so2", "unit": "ug/Nm3",
                       "period": "1h"},
              {"value": 524.1, "n": 12, "expected": 12, "complete": True, "records": 12,
               "qc_fail": 0}, T)
    assert line(p) == ("mean,kind=air,param=so2,period=1h,station=pq-air-01,unit=ug/Nm3 "
                       "value=524.1,n=12i,expected=12i,complete=true,records=12i,qc_fail=0i "
                       f"{T}")


def test_text_fields_are_quoted_and_escaped():
    p = Point("alert", {"station": "pq-air-01", "rule": "qcvn05.so2.1h", "severity": "warning"},
              {"state": "open", "text": 'SO2 "524" µg/Nm³ \\ vượt\ngiới hạn', "value": 524.0}, T)
    got = point_line(p)
    assert 'text="SO2 \\"524\\" µg/Nm³ \\\\ vượt giới hạn"' in got
    assert got.startswith("alert,rule=qcvn05.so2.1h,severity=warning,station=pq-air-01 ")
    assert "value=524.0" in got and "state=\"open\"" in got


@pytest.mark.parametrize("point, says", [
    (Point("mean", {"station": "x"}, {}, T), "mean: no fields"),
    (Point("mean", {"station": ""}, {"n": 1}, T), "tag station is empty"),
    (Point("mean", {"station": "x"}, {"value": float("nan")}, T), "value=nan is not finite"),
    (Point("mean", {"station": "x"}, {"value": [1]}, T), "is not a number, bool or text"),
])
def test_unwritable_points_are_named(point, says):
    with pytest.raises(ValueError, match=says):
        point_line(point)
