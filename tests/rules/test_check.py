"""Warnings of ``veille rules check``."""

from __future__ import annotations

import pytest

from veille.rules.check import check, check_rule
from veille.rules.rule import Rule


def warnings(query: str) -> list[str]:
    return check_rule(Rule.of("r", query))


@pytest.mark.parametrize(
    "query",
    [
        "police",
        "(tuer OR abattre OR doden) NEAR/3 (flic* OR police* OR politie*)",
        "police -football lang:fr",
        "#police OR @politie",
        '"exact phrase" /at+entat/',
    ],
)
def test_good_rules_have_no_warning(query: str) -> None:
    assert warnings(query) == []


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("x AND NOT x", "can never match"),
        ("x lang:fr lang:de", "can never match"),
        ("(a NEAR/2 b) -a", "can never match"),
        ('"🙂"', "no letters or digits"),
        ("NOT x", "NOT-only"),
        ("lang:fr -x", "NOT-only"),
        ("x OR NOT y", "NOT-only"),
        ("lang:fr", "only filters"),
        ("/x+/", "evaluated for every post"),
        ("a OR /x+/", "evaluated for every post"),
        ("pol*", "very broad wildcard"),
    ],
)
def test_warns(query: str, fragment: str) -> None:
    assert any(fragment in w for w in warnings(query)), warnings(query)


def test_check_locates_rules() -> None:
    rule = Rule(id="r", query=Rule.of("r", "NOT x").query, file="f.toml", line=7)
    (diagnostic,) = check([rule])
    assert diagnostic.format().startswith("f.toml:7: warning: ")


def test_rule_of_validates_severity() -> None:
    with pytest.raises(ValueError, match="severity"):
        Rule.of("r", "x", severity="urgent")
    assert Rule.of("r", "x").where == "r"
