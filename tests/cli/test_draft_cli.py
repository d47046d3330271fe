"""``veille draft``: a report or JSON, and an exit status a publishing script can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from veille.cli import main
from veille.enrich.detect import Detect
from veille.enrich.draft import DraftChecker


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEILLE_CONFIG", raising=False)
    return tmp_path


def test_exit_status_says_the_verdict() -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["draft", "Merci pour votre aide lors de la braderie"])
    assert ok.exit_code == 0, ok.output
    assert "Nothing found" in ok.output
    check = runner.invoke(main, ["draft", "Contact: 0470 12 34 56"])
    assert check.exit_code == 3
    assert "Look again before posting" in check.output
    stop = runner.invoke(main, ["draft", "-"], input="Zie PV n° BR.12.L1.123456/2025\n")
    assert stop.exit_code == 4
    assert "Do not post" in stop.output
    assert "BR.12.L1.123456/2025" in stop.output


def test_secrecy_rules_come_from_the_configured_rule_files(workdir: Path) -> None:
    (workdir / "rules").mkdir()
    (workdir / "rules" / "secret.toml").write_text(
        '[[rule]]\nid = "op"\nquery = "nachtuil"\nseverity = "critical"\ntags = ["secrecy"]\n'
        '[[rule]]\nid = "other"\nquery = "gent"\nseverity = "low"\n',
        "utf-8",
    )
    (workdir / "veille.toml").write_text('[draft]\nallowed = ["info@police.belgium.eu"]\n')
    text = "Nachtuil in Gent, info@police.belgium.eu"
    result = CliRunner().invoke(main, ["draft", "--json", text])
    assert result.exit_code == 4, result.output
    review = json.loads(result.stdout)
    assert review["secrecy_rules"] == 1
    assert [(i["kind"], i["rule"], text[i["start"] : i["end"]]) for i in review["issues"]] == [
        ("secrecy", "op", "Nachtuil")
    ]


def test_broken_rules_and_long_drafts_are_clear_errors(workdir: Path) -> None:
    (workdir / "rules").mkdir()
    bad = '[[rule]]\nid = "x"\nseverity = "low"\nquery = "a AND ("\n'
    (workdir / "rules" / "bad.toml").write_text(bad)
    broken = CliRunner().invoke(main, ["draft", "hello"])
    assert broken.exit_code == 1
    assert "secrecy rules cannot be loaded" in broken.output
    assert "bad.toml:4" in broken.output
    (workdir / "rules" / "bad.toml").unlink()
    long = CliRunner().invoke(main, ["draft", "-"], input="x" * 30_000)
    assert long.exit_code == 1
    assert "at most 20,000 are checked" in long.output


def test_every_blns_string_gets_a_review(shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    checker = DraftChecker(Detect())
    for text in strings:
        review = checker.review(text)
        assert all(0 <= i.start < i.end <= len(text) for i in review.issues), text
