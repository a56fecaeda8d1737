"""Readings → line protocol for `reading` (docs/influxdb-schema.md)."""

from __future__ import annotations

import pytest

from collector.contracts import Reading
from collector.sinks.influxdb.line_protocol import escape_tag, line


def reading(**kw) -> Reading:
    base = dict(station="pq-air-01", kind="air", param="so2", unit="ppb", time=1763755200,
                value=12.5, status=0, qc=2, n=30, flags=0)
    return Reading(**{**base, **kw})


def test_the_schema_documents_example_line():
    assert line(reading()) == ("reading,kind=air,param=so2,station=pq-air-01,unit=ppb "
                               "value=12.5,status=0i,qc=2i,qc_bits=0i,n=30i,flags=0i 1763755200")


def test_min_max_and_integer_values_are_floats():
    got = line(reading(param="pm10", unit="ug/m3", value=35, min=30, max=41.0, flags=2, n=28))
    assert got == ("reading,kind=air,param=pm10,station=pq-air-01,unit=ug/m3 "
                   "value=35.0,status=0i,qc=2i,qc_bits=0i,n=28i,flags=2i,min=30.0,max=41.0 "
                   "1763755200")


def test_the_reference_conditions_are_a_field_so_the_series_stays_one():
    got = line(reading(param="pm2_5", unit="ug/m3", value=41.0, raw=40.0, ref="station"))
    assert got == ("reading,kind=air,param=pm2_5,station=pq-air-01,unit=ug/m3 "
                   "value=41.0,status=0i,qc=2i,qc_bits=0i,n=30i,flags=0i,raw=40.0,"
                   'ref="station" 1763755200')


def test_no_value_means_no_value_field():
    got = line(reading(value=None, status=2, n=0, flags=4))
    assert " status=2i,qc=2i,qc_bits=0i,n=0i,flags=4i " in got and "value=" not in got


@pytest.mark.parametrize("x, text", [(1e-05, "1e-05"), (1.5e20, "1.5e+20"), (-0.25, "-0.25")])
def test_float_formats(x, text):
    assert f" value={text}," in line(reading(value=x))


def test_tag_values_are_escaped():
    assert escape_tag("a b,c=d", "unit") == r"a\ b\,c\=d"
    got = line(reading(unit="ug m3", kind="a,b", param="x=y"))
    assert got.startswith(r"reading,kind=a\,b,param=x\=y,station=pq-air-01,unit=ug\ m3 ")


@pytest.mark.parametrize("kw, says", [
    ({"unit": ""}, "tag unit is empty"),
    ({"station": "a\nb"}, "tag station='a\\nb' holds a line break"),
    ({"unit": "mg\\"}, "backslash"),
    ({"value": float("nan")}, "field value=nan is not finite"),
    ({"max": float("inf")}, "field max=inf is not finite"),
])
def test_unwritable_readings_are_refused_by_name(kw, says):
    with pytest.raises(ValueError) as err:
        line(reading(**kw))
    assert says in str(err.value)
