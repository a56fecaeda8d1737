"""`quantrac data flag|approve|flags`: each mark kept with who, when and why; bad arguments
named, and nothing kept for them."""

from __future__ import annotations

import getpass
import json
import time
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

from quantrac.cli import main

STATION, PARAM = "pq-air-02", "pm10"


def run(run_dir, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["data", *args, "--run-dir", str(run_dir)], env=env)


def kept(run_dir) -> list[dict]:
    path = run_dir / "review.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_flag_and_an_approval_are_kept_with_who_when_and_why(tmp_path):
    before = int(time.time())
    got = run(tmp_path, "flag", STATION, PARAM, "--from", "2026-03-02T10:00", "--to",
              "2026-03-02T12:00", "--reason", "filter change", env={"QUANTRAC_OPERATOR": "lan"})
    assert got.exit_code == 0, got.output
    assert "#1 pq-air-02 pm10 invalid 2026-03-02T10:00+07:00 … 2026-03-02T12:00+07:00 by lan" \
        in got.output
    got = run(tmp_path, "approve", STATION, "--date", "2026-03-02", "--by", "an.tran",
              env={"QUANTRAC_OPERATOR": "lan"})
    assert got.exit_code == 0, got.output
    flag, approval = kept(tmp_path)
    # local times (UTC+7): 10:00 and 12:00 are 03:00 and 05:00 UTC
    assert (flag["id"], flag["by"], flag["reason"], flag["start"], flag["end"]) == \
        (1, "lan", "filter change", 1772420400, 1772427600)
    assert flag["at"] >= before
    assert (approval["id"], approval["type"], approval["day"], approval["by"]) == \
        (2, "approve", "2026-03-02", "an.tran")  # --by wins over the environment
    login = getpass.getuser()  # kept beside the name typed, which anyone may type
    assert (flag["login"], approval["login"]) == (login, login)
    listed = run(tmp_path, "flags").output
    assert f"lan (login {login})  pq-air-02  pm10 invalid 2026-03-02T10:00+07:00 … " \
           "2026-03-02T12:00+07:00  (filter change)" in listed
    assert f"an.tran (login {login})  pq-air-02  2026-03-02 approved" in listed


@pytest.mark.parametrize(("args", "message"), [
    (("flag", "pq-air-99", PARAM), "'pq-air-99' is not in registry 'phu-quoc'"),
    (("flag", STATION, "ph"), "pq-air-02 does not measure 'ph'"),
    (("flag", STATION, PARAM, "--from", "2026-03-02T12:00", "--to", "2026-03-02T10:00"),
     "--to is not after --from (2026-03-02T10:00+07:00 <= 2026-03-02T12:00+07:00)"),
    (("flag", STATION, PARAM, "--from", "2026-13-02T10:00"),
     "--from '2026-13-02T10:00' is not a time"),
    (("flag", STATION, PARAM, "--reason", " "), "--reason is empty"),
    (("flag", STATION, PARAM, "--from", "2099-03-02T10:00", "--to", "2099-03-02T12:00"),
     "is in the future"),
    (("flag", STATION, PARAM, "--to", "2028-03-02T12:00"), "longer than 366 days"),
    (("approve", STATION, "--date", "2026-02-30"), "'2026-02-30' is not a date"),
    (("approve", STATION, "--date", (date.today() + timedelta(days=1)).isoformat()),
     "is not over yet"),
    (("approve", STATION, "--date", "9999-12-31"), "is not over yet"),
])
def test_bad_arguments_are_named_and_nothing_is_kept(tmp_path, args, message):
    defaults = {"--from": "2026-03-02T10:00", "--to": "2026-03-02T12:00",
                "--reason": "fault", "--by": "lan"} if args[0] == "flag" else {"--by": "lan"}
    extra = [x for k, v in defaults.items() if k not in args for x in (k, v)]
    got = run(tmp_path, *args, *extra)
    assert got.exit_code != 0 and message in got.output, got.output
    assert kept(tmp_path) == []


def test_a_damaged_marks_file_is_named_not_skipped(tmp_path):
    (tmp_path / "review.jsonl").write_text('{"id": 1, "type": "flag"\n')
    got = run(tmp_path, "flags")
    assert got.exit_code == 1 and "review.jsonl:1: not a review mark" in got.output


def test_an_unknown_registry_is_named_when_listing(tmp_path):
    got = run(tmp_path, "flags", "--registry", "nowhere")
    assert got.exit_code == 1 and "boards/registry/nowhere.json: no such file" in got.output


def test_a_mark_is_not_added_after_a_damaged_line(tmp_path):
    """The collector stops reading at a damaged line, so a mark written after it would never
    apply: the command names the line and keeps the file as it was."""
    damaged = '{"id": 1, "type": "flag"\n'
    (tmp_path / "review.jsonl").write_text(damaged)
    for args in (("flag", STATION, PARAM, "--from", "2026-03-02T10:00", "--to",
                  "2026-03-02T12:00", "--reason", "fault", "--by", "lan"),
                 ("approve", STATION, "--date", "2026-03-02", "--by", "lan")):
        got = run(tmp_path, *args)
        assert got.exit_code == 1 and "review.jsonl:1: not a review mark" in got.output, \
            got.output
    assert (tmp_path / "review.jsonl").read_text() == damaged
