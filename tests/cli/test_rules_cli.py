"""``veille rules check`` / ``veille rules test``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from veille.cli import main

RULES = """\
[[rule]]
id = "menaces-police"
name = "Menaces contre la police"
query = '(tuer OR abattre OR doden) NEAR/3 (flic* OR police* OR politie*)'
severity = "critical"
evasion = true

[[rule]]
id = "manif"
query = "manifestation lang:fr"
severity = "low"
"""


def rules_file(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_clean_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rules", "check", str(rules_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "2 rule(s) ok, 0 error(s), 0 warning(s)" in result.output


def test_check_reports_errors_with_caret(tmp_path: Path) -> None:
    path = rules_file(tmp_path, '[[rule]]\nid = "x"\nseverity = "low"\nquery = "a AND (b"\n')
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:4:16: error: missing ')' to close this '('" in result.output
    assert "               ^" in result.output
    assert "0 rule(s) ok, 1 error(s)" in result.output


def test_check_warnings_and_strict(tmp_path: Path) -> None:
    path = rules_file(tmp_path, '[[rule]]\nid = "x"\nseverity = "low"\nquery = "NOT a"\n')
    runner = CliRunner()
    result = runner.invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 0
    assert "NOT-only" in result.output
    assert runner.invoke(main, ["rules", "check", "--strict", str(path)]).exit_code == 1


def test_rules_test_explains(tmp_path: Path) -> None:
    path = rules_file(tmp_path)
    result = CliRunner().invoke(
        main, ["rules", "test", "--rules", str(path), "Il faut TUER les flics"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "menaces-police (v1, critical): Menaces contre la police",
        "  Il faut [TUER] les [flics]",
        "  tuer: 8-12 'TUER'",
        "  flic*: 17-22 'flics'",
    ]


def test_rules_test_filters_and_json(tmp_path: Path) -> None:
    path = rules_file(tmp_path)
    runner = CliRunner()
    args = ["rules", "test", "--rules", str(path), "Grande manifestation"]
    assert "no rule matches (2 rule(s) tried)" in runner.invoke(main, args).output
    result = runner.invoke(main, [*args[:4], "--lang", "fr", "--json", args[4]])
    assert json.loads(result.output) == [
        {"rule": "manif", "version": 1, "spans": [[7, 20]], "terms": {"manifestation": [[7, 20]]}}
    ]


def test_rules_test_marks_hostile_text_inert(tmp_path: Path) -> None:
    path = rules_file(tmp_path)
    result = CliRunner().invoke(
        main, ["rules", "test", "--rules", str(path), "tuer\x1b[31m la\u202e police"]
    )
    assert "\x1b" not in result.output
    assert "\u202e" not in result.output
    assert "[tuer]" in result.output


def test_rules_test_with_bad_rules_exits_2(tmp_path: Path) -> None:
    path = rules_file(tmp_path, '[[rule]]\nid = "x"\nseverity = "low"\nquery = "po*"\n')
    result = CliRunner().invoke(main, ["rules", "test", "--rules", str(path), "x"])
    assert result.exit_code == 2
    assert "at least 3 letters" in result.output


def test_blns_queries_give_errors_never_tracebacks(tmp_path: Path, shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    # One file per string, so that each error is reported separately. JSON string syntax is
    # close to TOML's; where they differ, the file is invalid TOML: also an error to report.
    paths = []
    for i, text in enumerate(strings):
        path = tmp_path / f"r{i:03}.toml"
        query = json.dumps(text, ensure_ascii=False)
        path.write_text(
            f'[[rule]]\nid = "r{i}"\nseverity = "low"\nquery = {query}\n',
            encoding="utf-8",
            errors="replace",
        )
        paths.append(str(path))
    result = CliRunner().invoke(main, ["rules", "check", *paths])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "error(s)" in result.output
