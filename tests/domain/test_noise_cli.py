"""`quantrac index noise` end to end: levels in (--levels or a JSON list on stdin), JSON out,
clear errors with status 2."""

import json

import pytest
from click.testing import CliRunner

from quantrac.cli import main


def run(args: list[str], stdin: str = ""):
    return CliRunner().invoke(main, ["index", "noise", *args], input=stdin)


def test_levels_option_gives_the_energy_mean_and_the_statistical_levels():
    res = run(["--levels", "50,60,70"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"laeq": 65.7, "lamax": 70.0, "lamin": 50.0,
                                      "l10": 70.0, "l50": 60.0, "l90": 50.0}


def test_levels_as_a_json_list_on_stdin():
    # a quiet street with one truck: the truck dominates LAeq, not L50
    res = run([], json.dumps([45] * 9 + [85]))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"laeq": 75.0, "lamax": 85.0, "lamin": 45.0,
                                      "l10": 45.0, "l50": 45.0, "l90": 45.0}


def test_index_help_lists_noise():
    res = CliRunner().invoke(main, ["index", "--help"])
    assert res.exit_code == 0 and "noise" in res.output


@pytest.mark.parametrize("args, stdin, says", [
    (["--levels", "50,x"], "", "--levels: item 1 ('x') is not a number in dB"),
    (["--levels", ""], "", "--levels: item 0 ('') is not a number in dB"),
    (["--levels", "50,nan"], "", "level 1 (nan) is not a finite number"),
    (["--levels", "50,250"], "", "level 1 (250.0 dB) is outside 0..200 dB"),
    (["--levels", "-3"], "", "level 0 (-3.0 dB) is outside 0..200 dB"),
    ([], "[]", "no levels: at least one is needed"),
    ([], "[50, NaN]", "NaN is not a number"),
    ([], '[50, "60"]', "level 1 ('60') is not a number in dB"),
    ([], '{"levels": [50]}', "expected a JSON list of levels like [50, 60, 70], got dict"),
    ([], "50 60", "stdin is not JSON"),
    ([], "", "stdin is not JSON"),
])
def test_bad_levels_exit_2_naming_what_is_wrong(args, stdin, says):
    res = run(args, stdin)
    assert res.exit_code == 2, res.output
    assert says in res.stderr and res.stdout == ""


def test_the_examples_in_docs_noise_md_hold():
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "noise.md").read_text()
    lines = text.splitlines()
    examples = [(lines[i], lines[i + 1]) for i, line in enumerate(lines)
                if line.startswith("$ ") and "quantrac index noise" in line]
    assert len(examples) == 3
    for cmd, want in examples:
        m = re.match(r"\$ (?:echo '(.*)' \| )?quantrac index noise(.*)$", cmd)
        assert m, cmd
        res = run(shlex.split(m.group(2)), m.group(1) or "")
        got = res.stdout.strip() if res.exit_code == 0 else res.stderr.strip()
        assert got == want, cmd
