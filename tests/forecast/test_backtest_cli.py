"""`quantrac forecast backtest` on a slice of the real Hanoi file, and on bad CSVs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from quantrac.cli import main

HANOI = Path("/work/shared/data/air/hanoi_us_embassy_pm25_hourly.csv")
HEADER = "site,time_local,time_utc,pm2_5\n"


def _run(*args: str):
    return CliRunner().invoke(main, ["forecast", "backtest", *args])


@pytest.fixture(scope="module")
def hanoi_slice(tmp_path_factory) -> Path:
    """The first 300 days of the Hanoi monitor (the suite runs a short slice)."""
    if not HANOI.exists():
        pytest.skip(f"{HANOI} is not on this machine")
    lines = HANOI.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path_factory.mktemp("bt") / "hanoi_slice.csv"
    path.write_text("".join(lines[:1 + 300 * 24]), encoding="utf-8")
    return path


@pytest.mark.slow
def test_backtest_on_real_data_beats_persistence_and_writes_the_json(hanoi_slice, tmp_path):
    out = tmp_path / "bt.json"
    r = _run("--csv", str(hanoi_slice), "--param", "pm2_5", "--json", str(out),
             "--train-days", "240", "--origins-every", "12", "--quiet")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    hs = doc["horizons"]
    assert [x["h"] for x in hs] == list(range(1, 73))
    for x in hs:
        assert set(x) >= {"h", "n", "mae", "rmse", "skill_vs_persistence",
                          "skill_vs_seasonal", "skill_vs_linear"}
        assert x["n"] > 0
    # a day ahead, the next hours are not like now: the model must beat persistence there
    day = hs[23]
    assert day["skill_vs_persistence"] > 0.1, day
    # the 10th–90th percentile interval holds roughly what it says
    assert 0.6 < day["interval_coverage"] < 0.95, day
    assert set(doc["warnings"]) >= {"aqi_gt_100", "aqi_gt_150"}
    assert set(doc["warnings"]["aqi_gt_100"]) >= {"pod", "far", "csi"}
    assert "skill/pers" in r.output and "aqi_gt_150" in r.output


@pytest.mark.parametrize("body, says", [
    ("site,time_local,time_utc,pm10\nx,,2016-01-01T00:00:00Z,3\n", "no column 'pm2_5'"),
    (HEADER + "x,,2016-01-01T00:00:00Z,12\nx,,2016-01-01T01:00:00Z,abc\n",
     ":3: pm2_5 'abc' is not a number"),
    (HEADER + "x,,2016-01-01T01:00:00Z,12\nx,,2016-01-01T00:00:00Z,13\n",
     ":3: time_utc 2016-01-01T00:00:00Z is not after the previous row's"),
    (HEADER + "x,,2016-01-01 00:30,12\n", "has no offset"),
    (HEADER + "x,,2016-01-01T00:30:00Z,12\n", "is not on a whole hour"),
    (HEADER + "x,,2016-01-01T00:00:00Z,-5\n", "pm2_5 '-5' is outside"),
    (HEADER + "x,,2016-01-01T00:00:00Z,12\n", "the backtest needs more than 365 days"),
    ("", "empty file"),
])
def test_bad_csv_is_refused_naming_the_line_and_what_is_wrong(tmp_path, body, says):
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    r = _run("--csv", str(path), "--quiet")
    assert r.exit_code == 2
    assert says in r.output
    assert "Traceback" not in r.output


def test_a_missing_file_is_named(tmp_path):
    r = _run("--csv", str(tmp_path / "nope.csv"), "--quiet")
    assert r.exit_code == 2 and "nope.csv: cannot open" in r.output
