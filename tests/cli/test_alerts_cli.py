"""`quantrac alerts` names what is wrong before anything is sent: an id that is no alert id,
a station the registry lacks, a time it cannot read, a window that ends before it starts or
has already passed, a missing reason (no broker is needed to be told)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from quantrac.cli import main


@pytest.mark.parametrize("args, error", [
    (["ack", "pq-air-01-so2", "--note", "x"],
     "'pq-air-01-so2' is not an alert id <station>/<rule>/<time>"),
    (["ack", "pq-air-99/offline/1763755200", "--note", "x"],
     "'pq-air-99' is not a station of registry 'phu-quoc'"),
    (["ack", "pq-air-01/offline/1763755200", "--note", "x" * 501], "at most 500 characters"),
    # what `alerts list` shows as a forecast warning: the collector knows no such alert
    (["ack", "pq-air-01/forecast.vn_aqi.48h/1763755200", "--note", "x"],
     "is a forecast warning, not a measured alert"),
    (["silence", "pq-air-01", "--until", "tomorrow", "--reason", "bảo trì"],
     "'tomorrow' is neither an ISO 8601 time"),
    (["silence", "pq-air-01", "--until", "2h", "--from", "3h", "--reason", "bảo trì"],
     "is not after the start"),
    (["silence", "pq-air-01", "--until", "2024-01-01T08:00", "--from", "2023-12-31T08:00",
      "--reason", "bảo trì"], "2024-01-01 08:00 has already passed"),
    (["silence", "pq-air-01", "--until", "2h", "--reason", " "], "a reason of 1-500 characters"),
    # a window the collector would refuse (its answer dead-lettered while this said "silenced")
    (["silence", "pq-air-01", "--until", "50000d", "--reason", "x"],
     "'50000d' is not between 2023-11 and 2099"),
    (["silence", "pq-air-01", "--until", "2h", "--from", "2020-01-01T08:00", "--reason", "x"],
     "'2020-01-01T08:00' is not between 2023-11 and 2099"),
    (["silence", "pq-zz-01", "--until", "2h", "--reason", "x"], "'pq-zz-01' is not a station"),
    (["ack", "pq-air-01/offline/1763755200"], "Missing option '--note'"),
    # the collector would refuse these into its dead letters while the CLI said "silenced"
    (["silence", "pq-air-01", "--until", "2h", "--reason", "x", "--by", " "],
     "who answers must be named (1-64 characters)"),
    (["unsilence", "pq-air-01", "--by", "x" * 65], "who answers must be named"),
])
def test_a_bad_answer_is_named_before_anything_is_sent(tmp_path, args, error):
    result = CliRunner().invoke(main, ["alerts", *args, "--run-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert error in " ".join(result.output.split())


def test_an_unknown_registry_is_named(tmp_path):
    result = CliRunner().invoke(main, ["alerts", "list", "--registry", "nowhere",
                                       "--run-dir", str(tmp_path)])
    assert result.exit_code == 1 and "boards/registry/nowhere.json: no such file" in \
        result.output, result.output
