"""Warnings of ``veille rules check``."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.rules.check import check, check_rule
from veille.rules.files import load
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


def located(tmp_path: Path, body: str) -> list[str]:
    """``rules check`` output (diagnostics, formatted) for one rule file."""
    path = tmp_path / "rules.toml"
    path.write_text(body, encoding="utf-8")
    loaded = load([path])
    found = loaded.diagnostics + check(loaded.rules)
    return [d.format().replace(str(path), "f") for d in found]


def test_broad_wildcard_warning_points_at_the_wildcard(tmp_path: Path) -> None:
    (out,) = located(tmp_path, '[[rule]]\nid = "r"\nseverity = "low"\nquery = "police AND pol*"\n')
    assert out.splitlines() == [
        "f:4:21: warning: very broad wildcard pol*: it matches many common words [rule r]",
        '  query = "police AND pol*"',
        "                      ^^^^",
    ]


def test_never_matching_rule_points_at_the_query(tmp_path: Path) -> None:
    (out,) = located(tmp_path, '[[rule]]\nid = "r"\nseverity = "low"\nquery = "x AND NOT x"\n')
    assert out.startswith("f:4:10: warning: this rule can never match")
    assert out.endswith('\n  query = "x AND NOT x"\n           ^^^^^^^^^^^')


def test_term_without_letters_points_at_the_term(tmp_path: Path) -> None:
    (out,) = located(tmp_path, "[[rule]]\nid = 'r'\nseverity = 'low'\nquery = 'a OR \"??\"'\n")
    assert out.startswith('f:4:15: warning: "??" has no letters or digits')
    assert out.endswith("\n                ^^^^")


def test_not_only_warning_points_at_the_negation_across_lines(tmp_path: Path) -> None:
    body = '[[rule]]\nid = "r"\nseverity = "low"\nquery = """lang:fr\n  -football"""\n'
    (out,) = located(tmp_path, body)
    assert out.startswith("f:5:3: warning: this rule matches posts containing none")
    assert out.endswith('\n    -football"""\n    ^^^^^^^^^')


def test_duplicate_id_points_at_the_second_id(tmp_path: Path) -> None:
    rule = '[[rule]]\nid = "x"\nseverity = "low"\nquery = "a"\n\n'
    (out,) = located(tmp_path, rule + rule)
    assert out.splitlines() == [
        "f:7:6: warning: duplicate id 'x' (first defined at f:1): "
        "this later definition is ignored [rule x]",
        '  id = "x"',
        "       ^^^",
    ]


def test_without_the_file_text_warnings_keep_the_rule_line(tmp_path: Path) -> None:
    rule = Rule(id="r", query=Rule.of("r", "pol*").query, file=str(tmp_path / "gone"), line=3)
    (diagnostic,) = check([rule])
    assert diagnostic.format() == (
        f"{tmp_path / 'gone'}:3: warning: very broad wildcard pol*: "
        "it matches many common words [rule r]"
    )


def test_a_file_changed_since_loading_falls_back_to_its_place(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[rule]]\nid = "r"\nseverity = "low"\nquery = "pol*"\n', encoding="utf-8")
    rules = load([path]).rules
    path.write_text('[[rule]]\nid = "r"\nseverity = "low"\nquery = "polic*"\n', encoding="utf-8")
    (diagnostic,) = check(rules)
    assert diagnostic.line == 4
    assert "very broad wildcard pol*" in diagnostic.message
    # the given text wins over the file on disk
    (diagnostic,) = check(rules, {str(path): '[[rule]]\nquery = "pol*"\n'})
    assert (diagnostic.line, diagnostic.column) == (2, 10)
