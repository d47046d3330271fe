"""Rule files: loading, located errors, duplicate ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.rules.files import RuleFileError, load, load_rules

GOOD = """\
[[rule]]
id = "menaces-police"
name = "Menaces contre la police"
query = '(tuer OR abattre OR doden) NEAR/3 (flic* OR police* OR politie*)'
severity = "critical"
tags = ["threat"]
evasion = true

[[rule]]
id = "manif"
query = "manifestation lang:fr"
severity = "low"
enabled = false
"""


def write(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_rules_with_metadata(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, GOOD)])
    assert [r.id for r in rules] == ["menaces-police", "manif"]
    first = rules[0]
    assert first.severity == "critical"
    assert first.tags == ("threat",)
    assert first.evasion
    assert first.enabled
    assert first.line == 1
    assert first.where.endswith("rules.toml:1")
    assert not rules[1].enabled
    assert rules[1].line == 9


def test_folder_loads_every_toml_sorted(tmp_path: Path) -> None:
    write(tmp_path, '[[rule]]\nid = "b"\nquery = "b"\nseverity = "low"\n', "b.toml")
    write(tmp_path, '[[rule]]\nid = "a"\nquery = "a"\nseverity = "low"\n', "a.toml")
    write(tmp_path, "not toml at all", "notes.txt")
    assert [r.id for r in load_rules([tmp_path])] == ["a", "b"]


def only_error(tmp_path: Path, text: str) -> str:
    loaded = load([write(tmp_path, text)])
    assert loaded.rules == []
    assert len(loaded.errors) == 1
    return loaded.errors[0].format()


def test_query_error_has_line_column_and_caret(tmp_path: Path) -> None:
    text = '[[rule]]\nid = "x"\nseverity = "low"\nquery = "police AND (tuer OR po*)"\n'
    out = only_error(tmp_path, text)
    assert out.splitlines() == [
        f"{tmp_path}/rules.toml:4:30: error: a wildcard needs a stem of at least 3 letters"
        " ('po' is too broad) [rule x]",
        '  query = "police AND (tuer OR po*)"',
        " " * 31 + "^^^",
    ]


def test_query_error_through_escapes_and_multiline(tmp_path: Path) -> None:
    text = '[[rule]]\nid = "x"\nseverity = "low"\nquery = """\\u00e9cole\n  AND \\"abc"""\n'
    out = only_error(tmp_path, text)
    assert ":5:7: error: unterminated phrase" in out
    assert out.splitlines()[-1] == "        ^^^^^"


def test_literal_string_offsets(tmp_path: Path) -> None:
    text = "[[rule]]\nid = 'x'\nseverity = 'low'\nquery = '''\na\n  b)'''\n"
    assert ":6:4: error: unbalanced ')'" in only_error(tmp_path, text)


@pytest.mark.parametrize(
    ("body", "fragment", "line"),
    [
        ('id = "x"\nquery = "a"\nseverity = "urgent"', "severity must be one of", 4),
        ('id = "x"\nquery = "a"\nseverity = "low"\ntags = "t"', "tags must be a list", 5),
        ('id = "x"\nquery = "a"\nseverity = "low"\nevasion = "yes"', "evasion must be true", 5),
        ('id = "x"\nquery = "a"\nseverity = "low"\nseverty = "low"', "unknown key 'severty'", 5),
        ('id = "x"\nquery = 3\nseverity = "low"', "query is required", 3),
        ('query = "a"\nseverity = "low"', "id is required", 1),
        ('id = "has space"\nquery = "a"\nseverity = "low"', "id is required", 2),
        ('id = "x"\nseverity = "low"', "query is required", 1),
        ('id = "x"\nquery = "a"\nseverity = "low"\nname = 1', "name must be a string", 5),
    ],
)
def test_field_errors_are_located(tmp_path: Path, body: str, fragment: str, line: int) -> None:
    out = only_error(tmp_path, "[[rule]]\n" + body + "\n")
    assert fragment in out
    assert f"rules.toml:{line}:" in out


def test_toml_syntax_error_is_located(tmp_path: Path) -> None:
    out = only_error(tmp_path, '[[rule]]\nid = "x"\nquery = "a\n')
    assert "rules.toml:3:" in out
    assert "invalid TOML" in out


def test_other_top_level_keys_are_errors(tmp_path: Path) -> None:
    loaded = load([write(tmp_path, 'rules = 1\n[[rule]]\nid="a"\nquery="a"\nseverity="low"\n')])
    assert "unknown top-level key(s) rules" in loaded.errors[0].message
    loaded = load([write(tmp_path, 'rule = "x"\n')])
    assert "array of tables" in loaded.errors[0].message


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe[[rule]]")
    loaded = load([bad, tmp_path / "missing.toml"])
    assert len(loaded.errors) == 2
    assert all("cannot read" in e.message for e in loaded.errors)


def test_one_bad_file_does_not_hide_another(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.toml")
    bad = write(tmp_path, '[[rule]]\nid = "x"\nquery = "(("\nseverity = "low"\n', "bad.toml")
    loaded = load([bad, good])
    assert [r.id for r in loaded.rules] == ["menaces-police", "manif"]
    with pytest.raises(RuleFileError) as info:
        load_rules([bad, good])
    assert "bad.toml:3:" in str(info.value)


def test_duplicate_ids_warn_and_keep_the_first(tmp_path: Path) -> None:
    a = write(tmp_path, '[[rule]]\nid = "x"\nquery = "a"\nseverity = "low"\n', "a.toml")
    b = write(tmp_path, '[[rule]]\nid = "x"\nquery = "b"\nseverity = "low"\n', "b.toml")
    loaded = load([a, b])
    assert [r.query.source for r in loaded.rules] == ["a"]
    (warning,) = loaded.diagnostics
    assert warning.level == "warning"
    assert "duplicate id 'x'" in warning.message
    assert "a.toml:1" in warning.message


def test_fast_toml_parser_agrees_with_tomllib(shared_data: Path) -> None:
    """rtoml is the fast path; on every BLNS string as a TOML value, and as a whole TOML
    document, it must give tomllib's data or hand over to tomllib (which then decides)."""
    import json
    import tomllib

    from veille.rules.files import _toml

    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    documents = [f"[[rule]]\nquery = {json.dumps(s, ensure_ascii=False)}\n" for s in strings]
    # A byte-order mark: rtoml skips it, tomllib refuses it; load_text drops it before both.
    documents += [s for s in strings if not s.startswith("\ufeff")]
    for text in documents:
        try:
            expected: object = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            expected = tomllib.TOMLDecodeError
        try:
            got: object = _toml(text)
        except tomllib.TOMLDecodeError:
            got = tomllib.TOMLDecodeError
        assert got == expected, text


def test_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, "\ufeff" + GOOD)])
    assert [r.line for r in rules] == [1, 9]


def test_deeply_nested_toml_is_an_error_not_a_crash(tmp_path: Path) -> None:
    loaded = load([write(tmp_path, "a = " + "[" * 100_000 + "]" * 100_000 + "\n")])
    assert loaded.errors
    assert "invalid TOML" in loaded.errors[0].message


def test_large_catalogue_loads_with_the_collector_restored(tmp_path: Path) -> None:
    import gc

    body = "".join(
        f'[[rule]]\nid = "r{i}"\nquery = "w{i} OR x{i}"\nseverity = "low"\n' for i in range(2000)
    )
    assert gc.isenabled()
    rules = load_rules([write(tmp_path, body)])
    assert gc.isenabled()
    assert [r.line for r in rules[:3]] == [1, 5, 9]
    assert rules[-1].query.source == "w1999 OR x1999"
