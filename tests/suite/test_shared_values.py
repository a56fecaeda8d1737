"""Values both sides of the wire spell (quantrac_common.protocol on CPython, the firmware on
MicroPython) are equal. The firmware imports `micropython` and cannot be imported here, so
its source is read with `ast`; the docs that list the same names are held to them too."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from quantrac_common import protocol
from quantrac_common.paths import DOCS, FIRMWARE, PROTOCOL_SCHEMA

SOURCES = sorted([*FIRMWARE.glob("*.py"), *FIRMWARE.glob("station/*.py")])


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def assigned(path: Path, name: str) -> ast.expr:
    for node in parsed(path).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise AssertionError(f"{path.relative_to(FIRMWARE.parent)} defines no {name}")


def module_constant(path: Path, name: str) -> object:
    return ast.literal_eval(assigned(path, name))


def topic_leaves() -> tuple[set[str], set[str], set[str]]:
    """From the firmware: the leaves it publishes under its prefix (every `prefix + "<leaf>"`
    string), the prefixes it spells, and the leaves it subscribes to (`….subscribe(…)` with
    `<name> + b"<leaf>"` arguments). Topics are built per connect, not kept as attributes (a
    name and a dict slot each on the station's heap), so the calls are what is read."""
    written: set[str] = set()
    prefixes: set[str] = set()
    subscribed: set[str] = set()

    def leaf(node: ast.AST, kind: type) -> str | None:
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
                and isinstance(node.left, ast.Name) and isinstance(node.right, ast.Constant)
                and isinstance(node.right.value, kind)):
            v = node.right.value
            return v.decode() if isinstance(v, bytes) else v
        return None

    for path in SOURCES:
        tree = parsed(path)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.startswith("quantrac/")):
                prefixes.add(node.value)
            if (isinstance(node, ast.BinOp) and isinstance(node.left, ast.Name)
                    and node.left.id == "prefix" and (name := leaf(node, str)) is not None):
                written.add(name)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "subscribe"):
                subscribed |= {x for a in node.args if (x := leaf(a, bytes)) is not None}
    return written, prefixes, subscribed


def test_settable_keys_and_commands_match_the_firmware() -> None:
    control = FIRMWARE / "station" / "control.py"
    assert module_constant(control, "SETTABLE") == protocol.SETTABLE
    assert module_constant(control, "CMDS") == protocol.CMDS


def test_settable_keys_exist_in_the_firmware_defaults() -> None:
    defaults = assigned(FIRMWARE / "defaults.py", "DEFAULTS")  # holds names: keys only
    assert isinstance(defaults, ast.Dict)
    sections = {ast.literal_eval(k): v for k, v in zip(defaults.keys, defaults.values, strict=True)}
    assert isinstance(sections["config"], ast.Dict)
    top = {ast.literal_eval(k) for k in sections["config"].keys}
    missing = [k for k in protocol.SETTABLE if k not in top]
    assert not missing, f"settable but not a firmware setting: {missing}"


def test_topics_match_the_firmware() -> None:
    written, prefixes, subscribed = topic_leaves()
    assert prefixes == {protocol.PREFIX + "/"}, prefixes
    assert written == set(protocol.STATION_WRITES)
    assert subscribed == {*protocol.STATION_READS, protocol.UPDATE}
    # the update topic, spelled where the station subscribes to it and reads what arrives
    assert (FIRMWARE / "station" / "uplink.py").read_text().count(f'b"{protocol.UPDATE}"') == 2


def test_the_docs_and_schema_name_the_same_values() -> None:
    schema = json.loads(PROTOCOL_SCHEMA.read_text())["definitions"]
    assert tuple(schema["cmd"]["properties"]["cmd"]["enum"]) == protocol.CMDS
    text = " ".join((DOCS / "protocol.md").read_text().split())
    assert tuple(re.search(r"commands are `([^`]+)`", text)[1].split()) == protocol.CMDS
    rows = re.findall(rf"\| `{re.escape(protocol.PREFIX)}/<station>/(\w+)` \| (\w+) →", text)
    assert {leaf for leaf, who in rows if who == "station"} == set(protocol.STATION_WRITES)
    assert {leaf for leaf, who in rows if who == "operator"} == \
        {*protocol.STATION_READS, protocol.ANSWER, protocol.UPDATE}
    readme = " ".join((FIRMWARE / "README.md").read_text().split())
    keys = re.search(r"`config`: `\{[^`]*\}` with keys `([^`]+)`", readme)
    assert keys, "firmware/README.md no longer lists the settable keys"
    assert tuple(keys[1].split()) == protocol.SETTABLE
