"""``veille analyze``: JSON Lines in, one detection line per post out, bad lines skipped."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from veille.cli import main
from veille.cli.jsonl import MAX_LINE_BYTES
from veille.model import Enrichment, Finding

# The package exports the click command under the module's name: fetch the module itself.
analyze_cli = importlib.import_module("veille.cli.analyze")


def run(stdin: bytes, *args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(main, ["analyze", *args], input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines, result.stderr


def test_one_line_per_post_with_the_documented_keys() -> None:
    stdin = (
        b'{"id": "1", "text": "Je vais buter ce flic", "lang": "fr", "followers": 5000}\n'
        b'{"id": "2", "text": "mail jan@example.be of bel 0470 12 34 56", "velocity": 40}\n'
        b'{"id": "3", "text": "Le suspect menacait de tuer un policier, selon le parquet"}\n'
        b'{"id": "4", "text": "Merci", "author": {"handle": "a", "followers": 10}}\n'
    )
    code, lines, err = run(stdin)
    assert code == 0, err
    assert [line["id"] for line in lines] == ["1", "2", "3", "4"]
    first, second, third, fourth = lines
    assert first["lang"] == "fr"
    assert first["threat"]["label"] == "threat"  # type: ignore[index]
    assert first["urgency"]["severity"] == "high"  # type: ignore[index]
    assert "5,000 followers" in first["urgency"]["reasons"]  # type: ignore[index]
    assert [(s["kind"], s["start"], s["end"]) for s in second["sensitive"]] == [  # type: ignore[attr-defined]
        ("email", 5, 19),
        ("phone", 27, 40),
    ]
    assert "conversation at 40 posts/min" in second["urgency"]["reasons"]  # type: ignore[index]
    assert third["threat"]["label"] == "none"  # type: ignore[index]
    assert third["threat"]["talks_about"] is True  # type: ignore[index]
    assert fourth["urgency"] == {"severity": "info", "score": 0.0, "reasons": []}


def test_bad_lines_are_reported_with_their_number_and_the_rest_goes_on() -> None:
    stdin = (
        b'{"id": "1", "text": "ok"}\n'
        b"not json\n"
        b'{"id": 2}\n'
        b"\n"
        b'{"id": "3", "text": "' + b"a" * MAX_LINE_BYTES + b'"}\n'
        b'{"id": "4", "text": "\xff"}\n'
        b'{"id": "5", "text": "still here"}\n'
    )
    code, lines, err = run(stdin)
    assert code == 1
    assert [line["id"] for line in lines] == ["1", "5"]
    messages = err.splitlines()
    assert messages[0].startswith("line 2: invalid post:")
    assert messages[1].startswith("line 3: invalid post:")
    assert messages[2] == f"line 5: longer than {MAX_LINE_BYTES} bytes, skipped"
    assert messages[3].startswith("line 6: invalid post:")


def test_rules_add_their_severity(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text(
        '[[rule]]\nid = "leak"\nseverity = "critical"\nquery = "dossier"\n', encoding="utf-8"
    )
    code, lines, err = run(
        b'{"id": "1", "text": "le dossier, appelle 0470 12 34 56"}\n', "--rules", str(rules)
    )
    assert code == 0, err
    assert lines[0]["urgency"]["reasons"] == ["phone number", "rule 'leak' (critical)"]  # type: ignore[index]


def test_confidential_markers_come_from_the_settings(tmp_path: Path) -> None:
    config = tmp_path / "veille.toml"
    config.write_text('[detect.confidential]\nextra_markers = ["SOUS SCELLÉS"]\n', "utf-8")
    code, lines, err = run(
        b'{"id": "1", "text": "Document SOUS SCELL\xc3\x89S"}\n', "--config", str(config)
    )
    assert code == 0, err
    assert lines[0]["sensitive"][0]["kind"] == "confidential"  # type: ignore[index]


def test_other_stages_add_sections_to_the_same_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def sentiment_section(enrichment: Enrichment) -> dict[str, object]:
        found = enrichment.verdict("sentiment")
        return {"sentiment": {"label": found.label}} if found else {}

    monkeypatch.setattr(analyze_cli, "SECTIONS", [*analyze_cli.SECTIONS, sentiment_section])
    sentiment = Finding(kind="sentiment", detector="sentiment", label="negative", score=0.8)
    line = analyze_cli.analysis_line("9", Enrichment(lang="nl", findings=(sentiment,)))
    assert line == {
        "id": "9",
        "lang": "nl",
        "sensitive": [],
        "urgency": {"severity": "info", "score": 0.0, "reasons": []},
        "sentiment": {"label": "negative"},
    }


def test_every_blns_string_through_veille_analyze(shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    stdin = "".join(json.dumps({"id": str(i), "text": s}) + "\n" for i, s in enumerate(strings))
    code, lines, err = run(stdin.encode())
    assert code == 0, err
    assert len(lines) == len(strings)
    for line, text in zip(lines, strings, strict=True):
        for hit in line["sensitive"]:  # type: ignore[attr-defined]
            assert 0 <= hit["start"] < hit["end"] <= len(text)
