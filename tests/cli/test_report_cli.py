"""`quantrac report`: input it cannot use is refused with a message naming what is wrong,
before the database is asked anything and without writing a file."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from quantrac.cli import main


@pytest.mark.parametrize(("args", "message"), [
    (["daily", "--date", "2026-02-30"], "'2026-02-30' is not a date (YYYY-MM-DD)"),
    (["daily", "--date", "10/03/2026"], "'10/03/2026' is not a date (YYYY-MM-DD)"),
    (["monthly", "--month", "2026-13"], "'2026-13' is not a month (YYYY-MM)"),
    (["monthly", "--month", "March"], "'March' is not a month (YYYY-MM)"),
    # the day after the span overflowed: an OverflowError traceback once services were up
    (["monthly", "--month", "9999-12"], "9999-12: a bulletin covers the years 1970 to 2099"),
    (["daily", "--date", "9999-12-31"], "9999-12-31: a bulletin covers the years 1970 to 2099"),
    (["daily", "--date", "2026-03-10", "--station", "pq-air-99"],
     "pq-air-99 not in registry 'phu-quoc'"),
    (["daily", "--date", "2026-03-10", "--lang", "fr"], "'fr' is not one of 'vi', 'en'"),
])
def test_bad_input_is_named_and_nothing_is_written(tmp_path, args, message):
    out = tmp_path / "out"
    got = CliRunner().invoke(main, ["report", *args, "--run-dir", str(tmp_path),
                                    "--out", str(out)])
    assert got.exit_code == 2, got.output
    assert message in " ".join(got.output.split())
    assert not out.exists()


def test_a_run_folder_without_services_is_named(tmp_path):
    got = CliRunner().invoke(main, ["report", "daily", "--date", "2026-03-10",
                                    "--run-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    assert got.exit_code == 1, got.output
    assert "services.env" in got.output
    assert not (tmp_path / "o").exists()
