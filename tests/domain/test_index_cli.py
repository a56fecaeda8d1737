"""`quantrac index aqi|wqi` end to end: JSON in on stdin, JSON out, clear errors with status 2."""

import json

import pytest
from click.testing import CliRunner

from quantrac.cli import main

DO_SAT_25 = 8.17565625  # the decision's cubic at 25 °C (see test_wqi.py)


def run(args: list[str], stdin: str):
    return CliRunner().invoke(main, ["index", *args], input=stdin)


def ok(args: list[str], doc: object) -> dict:
    res = run(args, json.dumps(doc))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def index_of(args: list[str], doc: object) -> dict:
    """The index itself, without the band's colour and messages (test_aqi_health_cli)."""
    return {k: v for k, v in ok(args, doc).items() if k not in ("band", "colour", "advice")}


def test_index_is_listed_in_help():
    res = CliRunner().invoke(main, ["--help"])
    assert "index" in res.output and "VN_AQI and VN_WQI" in res.output


def test_hourly_aqi_of_a_street_station():
    # PM2.5 steady 37.5 -> 75; PM10 NowCast of steady 100 -> 75; NO2 now 150 -> 75;
    # O3 now 180 -> 75 (1-h table); CO 5000 -> 25; SO2 missing now -> absent.
    # Every sub-index ties at 75; PM2.5 comes first in the tie order.
    doc = {"pm2_5": [37.5] * 12, "pm10": [100] * 12, "no2": [20, 150], "o3": [180],
           "co": [5000], "so2": [40, None]}
    assert index_of(["aqi"], doc) == {"aqi": 75, "dominant": "pm2_5",
                                "sub": {"co": 25, "no2": 75, "o3": 75, "pm10": 75,
                                        "pm2_5": 75}}


def test_daily_aqi_o3_by_its_8h_mean():
    doc = {"pm2_5": [10] * 24, "o3": [150] * 31}
    assert index_of(["aqi", "--period", "day"], doc) == {"aqi": 130, "dominant": "o3",
                                                   "sub": {"o3": 130, "pm2_5": 20}}


def test_aqi_without_pm_is_null():
    assert index_of(["aqi"], {"so2": [125]}) == {"aqi": None, "dominant": None, "sub": {"so2": 50}}


def test_wqi_of_a_river_station():
    doc = {"ph": 8.75, "do": DO_SAT_25 * 0.75, "temp": 25, "nh4": 0.45}
    got = ok(["wqi"], doc)
    assert got == {"wqi": None, "status": "not_computed", "why": got["why"], "indicative": 52,
                   "class": None, "indicative_class": "medium",
                   "sub": {"ph": 75.0, "do": 75.0, "nh4": 62.5}}
    assert got["why"].startswith("data sufficiency not met")


def test_wqi_of_the_raw_water_station_is_not_computed_with_the_indicative_value():
    doc = {"ph": 7.2, "do": DO_SAT_25, "temp": 25, "nh4": 0.1}
    got = ok(["wqi", "--station", "pq-tap-02"], doc)
    assert (got["wqi"], got["status"], got["indicative"], got["station"]) == \
        (None, "not_computed", 100, "pq-tap-02")
    assert "have 2 group(s) (I, IV) and 2 group IV parameter(s)" in got["why"]


@pytest.mark.parametrize("station, kind", [
    ("pq-tap-01", "tap water"), ("pq-tap-03", "tap water"), ("pq-tap-04", "tap water"),
    ("pq-ww-01", "wastewater"), ("pq-sea-01", "sea water")])
def test_wqi_for_a_tap_waste_or_sea_water_station_is_refused_with_the_reason(station, kind):
    res = run(["wqi", "--station", station], '{"ph": 7.2, "nh4": 0.1}')
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr == (f"Error: {station}: VN_WQI (Decision 1460) is for surface water "
                          f"only (surface_water); a {kind} station gets none, neither "
                          "official nor indicative\n")


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["aqi"], "pm2_5: 12", "stdin is not JSON"),
    (["aqi"], "", "stdin is not JSON"),
    (["aqi"], "[1, 2]", "expected a JSON object"),
    (["aqi"], '{"tsp": [100]}', "'tsp' is not a VN_AQI parameter"),
    (["aqi"], '{"pm10": 100}', "pm10: expected a list of hourly means"),
    (["aqi"], '{"pm10": [100, "high"]}', "pm10[1]: 'high' is not a number"),
    (["aqi", "--period", "day"], '{"pm10": [-5]}', "pm10[0]: -5 is negative"),
    (["aqi"], '{"pm10": [NaN]}', "NaN is not a number"),
    (["aqi"], '{"pm10": [1e999]}', "inf is not a number"),
    (["wqi"], '{"ph": 7, "do": 6}', "do: needs temp"),
    (["wqi"], '{"ph": 7, "cod": 10}', "'cod' is a group IV parameter"),
    (["wqi"], '{"nh4": -1}', "nh4: -1 is negative"),
    (["wqi"], '{"ph": "neutral"}', "ph: 'neutral' is not a number"),
    (["wqi"], '"ph 7"', "expected a JSON object"),
])
def test_bad_input_is_a_clear_error_with_status_2(args, stdin, message):
    res = run(args, stdin)
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert "Traceback" not in res.output
    assert res.stdout == ""
    assert isinstance(res.exception, SystemExit)


def test_the_examples_in_docs_indices_md():
    hourly = {"pm2_5": [10] * 10 + [20, 40], "no2": [35, 60], "o3": [95]}
    assert index_of(["aqi"], hourly) == {"aqi": 55, "dominant": "pm2_5",
                                   "sub": {"no2": 30, "o3": 30, "pm2_5": 55}}
    river = {"ph": 8.75, "do": 6.13, "temp": 25, "nh4": 0.45}
    got = ok(["wqi"], river)
    assert (got["wqi"], got["status"], got["indicative"], got["indicative_class"]) == \
        (None, "not_computed", 52, "medium")
    assert got["sub"] == {"ph": 75.0, "do": 74.98, "nh4": 62.5}
    res = run(["aqi"], '{"pm10": [100, -5]}')
    assert res.exit_code == 2 and res.stderr == "Error: pm10[1]: -5 is negative\n"
    res = run(["wqi"], '{"ph": 7, "bod5": 3}')
    assert res.exit_code == 2 and res.stderr == (
        "Error: 'bod5' is a group IV parameter without a sub-index table yet"
        " (accepted: do, temp, ph, nh4)\n")
