"""QC tests as pure functions: each bit, the flag they make, history, late and repeated records."""

from __future__ import annotations

import pytest

from collector.contracts import QC_FAIL, QC_GOOD, QC_MISSING, QC_SUSPECT
from collector.processors.qc import checks as c
from collector.processors.qc.checks import Flat, Limits, evaluate

T0 = 1763755200
LIM = Limits(sensor=(0, 2000), fail=(0, 10000), suspect=(0, 500), spike=50, spike_window=5,
             max_step=80, flat_suspect_s=3600, flat_fail_s=7200, flat_floor=2, max_gap_s=3600)


def run(values, lim=LIM, step=300, status=0, flags=0):
    """Feed a series of values, oldest first, as the processor does; the last (flag, bits)."""
    history, flat, out = [], None, None
    for i, x in enumerate(values):
        t = T0 + step * i
        out = evaluate(x, x, status, flags, t, history, flat, lim)
        flat = out[2]
        if x is not None and not out[1] & c.FAILING:
            history.append((t, x))
    return out[0], out[1]


def test_a_normal_value_is_good():
    assert run([10.0, 12.0, 11.0, 13.0]) == (QC_GOOD, 0)


@pytest.mark.parametrize("native, canonical, bits", [
    (2500.0, 100.0, c.SENSOR_RANGE),                # outside the sensor's range (native)
    (100.0, 12000.0, c.GROSS_RANGE | c.CLIMATOLOGY),  # physically impossible
    (100.0, 600.0, c.CLIMATOLOGY),                  # unusual here
    (-1.0, -2.6, c.SENSOR_RANGE | c.GROSS_RANGE | c.CLIMATOLOGY),
])
def test_range_bits(native, canonical, bits):
    assert c.range_bits(native, canonical, LIM) == bits


def test_sensor_range_uses_the_native_value_and_the_rest_the_canonical_one():
    flag, bits, _ = evaluate(1999.0, 5236.0, 0, 0, T0, [], None, LIM)
    assert bits == c.CLIMATOLOGY and flag == QC_SUSPECT


@pytest.mark.parametrize("status, flags, bits, flag", [
    (1, 0, c.CALIBRATING, QC_FAIL), (2, 0, c.DEVICE_ERROR, QC_FAIL),
    (0, 2, c.INCOMPLETE, QC_SUSPECT), (0, 1 | 4 | 8, 0, QC_GOOD),
])
def test_device_status_and_completeness(status, flags, bits, flag):
    assert run([10.0], status=status, flags=flags) == (flag, bits)


def test_a_missing_value_is_9_whatever_else():
    flag, bits, _ = evaluate(None, None, 2, 2, T0, [], None, LIM)
    assert (flag, bits) == (QC_MISSING, c.MISSING | c.DEVICE_ERROR | c.INCOMPLETE)


def test_a_spike_is_suspect_only_with_enough_history():
    assert run([10.0, 200.0]) == (QC_SUSPECT, c.RATE_OF_CHANGE)  # too little history to judge
    assert run([10.0, 11.0, 12.0, 10.0, 200.0]) == (QC_SUSPECT, c.SPIKE | c.RATE_OF_CHANGE)
    assert run([10.0, 11.0, 12.0, 10.0, 59.0]) == (QC_GOOD, 0)  # within spike and max_step


def test_a_step_is_judged_against_the_previous_value_only():
    # back near the median after a dip: no spike, but 85 up from the previous value
    assert run([100.0, 100.0, 100.0, 10.0, 95.0]) == (QC_SUSPECT, c.RATE_OF_CHANGE)


def test_values_further_apart_than_max_gap_are_not_compared():
    assert run([10.0, 11.0, 12.0, 10.0, 200.0], step=3601) == (QC_GOOD, 0)


def test_a_flat_line_is_suspect_then_fails():
    hour = 3600 // 300
    assert run([20.0] * hour) == (QC_GOOD, 0)            # 55 minutes unchanged
    assert run([20.0] * (hour + 1)) == (QC_SUSPECT, c.FLATLINE)   # one hour
    assert run([20.0] * (2 * hour + 1)) == (QC_FAIL, c.FLATLINE)  # two hours
    assert run([20.0] * 30 + [21.0]) == (QC_GOOD, 0)     # a change ends the run


def test_a_flat_line_at_the_detection_limit_is_normal():
    assert run([0.0] * 40) == (QC_GOOD, 0)


def test_the_flag_is_the_worst_test():
    assert c.flag_of(c.SPIKE | c.SENSOR_RANGE) == QC_FAIL
    assert c.flag_of(c.FLATLINE | c.SPIKE, QC_FAIL) == QC_FAIL
    assert c.flag_of(c.FLATLINE, QC_SUSPECT) == QC_SUSPECT
    assert c.names(c.SPIKE | c.MISSING) == ["spike", "missing"]


def test_the_newest_record_delivered_again_gets_the_same_answer():
    history = [(T0 + 300 * i, 10.0 + i % 2) for i in range(5)]
    first = evaluate(200.0, 200.0, 0, 0, T0 + 1500, history, Flat(T0 + 1200, 10.0, T0 + 1200),
                     LIM)
    again = evaluate(200.0, 200.0, 0, 0, T0 + 1500, history, first[2], LIM)
    assert first[:2] == again[:2] == (QC_SUSPECT, c.SPIKE | c.RATE_OF_CHANGE)
    assert again[2] == first[2]


def test_a_late_record_is_judged_against_the_values_before_it():
    history = [(T0 + 300 * i, 10.0) for i in range(3)] + [(T0 + 3000, 500.0)]
    flat = Flat(T0 + 3000, 500.0, T0 + 3000)
    flag, bits, after = evaluate(12.0, 12.0, 0, 0, T0 + 900, history, flat, LIM)
    assert (flag, bits) == (QC_GOOD, 0)  # the later 500 is not its neighbour
    assert after == flat  # a late record leaves the newest run alone
    flag, bits, _ = evaluate(10.0, 10.0, 0, 0, T0 + 900, history, flat, LIM)
    assert bits == 0  # 15 minutes flat: too short; judged from history alone


def test_recent_keeps_only_the_unbroken_run_before_t():
    h = [(0, 1.0), (5000, 2.0), (5300, 3.0), (5600, 4.0), (9000, 5.0)]
    assert c.recent(h, 5900, 3600) == [(5000, 2.0), (5300, 3.0), (5600, 4.0)]
    assert c.recent(h, 5600, 3600) == [(5000, 2.0), (5300, 3.0)]
    assert c.recent(h, 20000, 3600) == []
