"""OData expressions on their own: precedence, literals, and a clear error for what cannot be
read (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from public import odata


def ev(text: str, **props):
    return odata.evaluate(odata.parse(text), lambda path: props.get("/".join(path)))


def test_precedence_and_parentheses():
    assert ev("1 add 2 mul 3 eq 7") is True
    assert ev("(1 add 2) mul 3 eq 9") is True
    assert ev("a eq 1 or a eq 2 and b eq 3", a=1, b=0) is True  # and binds tighter
    assert ev("not a eq 1 and b eq 2", a=2, b=2) is True
    assert ev("7 mod 3 eq 1 and 7 div 2 eq 3.5 and 5 sub 7 eq -2") is True


def test_literals():
    assert ev("name eq 'O''Brien'", name="O'Brien") is True
    assert ev("t gt 2026-03-02T10:00:00+07:00", t=datetime(2026, 3, 2, 4, tzinfo=UTC)) is True
    assert ev("x eq null", x=None) is True and ev("x gt 1", x=None) is False
    assert ev("ok eq true", ok=True) is True and ev("1.5e1 eq 15") is True


@pytest.mark.parametrize("text,says", [
    ("", "empty"), ("name eq", "ends too early"), ("eq 1", "without a left operand"),
    ("name ~ 1", "cannot read"), ("f(1)", "unknown function"), ("(a eq 1", "ends too early"),
    ("a eq 1)", "unexpected"), ("length(1) eq 1", "length()"),
])
def test_malformed_expressions_name_what_is_wrong(text, says):
    with pytest.raises(odata.ODataError) as e:
        ev(text, a=1, name="x")
    assert says in str(e.value)


def test_deep_nesting_is_refused_not_a_crash():
    with pytest.raises(odata.ODataError, match="nested deeper"):
        ev("(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(odata.ODataError, match="nested deeper"):
        ev("not " * 5000 + "true")
    assert ev("(" * 20 + "1 eq 1" + ")" * 20) is True


def test_geospatial_functions_are_reported_as_not_implemented():
    with pytest.raises(odata.Unsupported):
        odata.parse("geo.intersects(location, geography'POINT(1 2)')")


def test_orderby_and_top_level_split():
    keys = odata.orderby("name desc, properties/kind asc, id")
    assert [d for _, d in keys] == [True, False, False]
    assert odata.split_top("a(b,c),d", ",") == ["a(b,c)", "d"]
    with pytest.raises(odata.ODataError):
        odata.split_top("a(b", ",")
