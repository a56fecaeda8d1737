"""quantrac_common.files: the one atomic write and JSON-object read the packages share."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from collector.services.state import ServicesError, read_json
from quantrac_common.files import (
    JsonFileError,
    load_json_object,
    read_json_object,
    write_atomic,
    write_private,
)


def test_a_write_replaces_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "new" / "status.json"
    write_atomic(path, '{"a": 1}')
    write_atomic(path, b'{"a": 2}', fsync=False)
    assert path.read_text() == '{"a": 2}'
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]


def test_a_private_file_is_owner_only_even_over_a_wider_leftover(tmp_path: Path) -> None:
    path = tmp_path / "server.key"
    leftover = tmp_path / ".server.key.tmp"  # a crash between open and rename, long ago
    leftover.write_text("old")
    leftover.chmod(0o644)
    write_private(path, b"\x30\x82secret")
    assert path.read_bytes() == b"\x30\x82secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reading_a_json_object(tmp_path: Path) -> None:
    assert read_json_object(tmp_path / "missing.json") == {}
    bad = tmp_path / "services.json"
    bad.write_text('{"pid": ')
    with pytest.raises(JsonFileError, match=r"services\.json: not JSON"):
        read_json_object(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(JsonFileError, match=r"services\.json: expected a JSON object, found list"):
        read_json_object(bad)
    # the services' records say so in their own error, which the CLI reports without a trace
    with pytest.raises(ServicesError, match=r"services\.json: expected a JSON object"):
        read_json(bad)


def test_a_data_file_must_exist_and_hold_an_object(tmp_path: Path) -> None:
    class RulesError(ValueError):
        pass

    with pytest.raises(RulesError, match=r"rules\.json: no such file"):
        load_json_object(tmp_path / "rules.json", RulesError)
    (tmp_path / "rules.json").write_text('["a"]')
    with pytest.raises(RulesError, match=r"rules\.json: must be a JSON object"):
        load_json_object(tmp_path / "rules.json", RulesError)
    (tmp_path / "rules.json").write_text('{"rules": []}')
    assert load_json_object(tmp_path / "rules.json", RulesError) == {"rules": []}
