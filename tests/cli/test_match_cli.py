"""``veille match``: JSON Lines in, JSON Lines out, bad lines reported and skipped."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from veille.cli import main
from veille.cli.jsonl import MAX_LINE_BYTES

from .test_rules_cli import rules_file


def run(tmp_path: Path, stdin: bytes, *extra: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(
        main, ["match", "--rules", str(rules_file(tmp_path)), *extra], input=stdin
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, lines, result.stderr


def test_matches_jsonl(tmp_path: Path) -> None:
    stdin = (
        b'{"id": "1", "text": "on va d0den de politie"}\n'
        b'{"id": "2", "text": "Grande manifestation", "lang": "fr", "platform": "bluesky",'
        b' "author": "alice.bsky.social", "extra": true}\n'
        b'{"id": "3", "text": "rien"}\n'
    )
    code, lines, err = run(tmp_path, stdin)
    assert code == 0, err
    assert lines == [
        {
            "id": "1",
            "matches": [{"rule": "menaces-police", "version": 1, "spans": [[6, 11], [15, 22]]}],
        },
        {"id": "2", "matches": [{"rule": "manif", "version": 1, "spans": [[7, 20]]}]},
        {"id": "3", "matches": []},
    ]


def test_explain_adds_terms(tmp_path: Path) -> None:
    code, lines, _ = run(tmp_path, b'{"id": "1", "text": "tuer la police"}\n', "--explain")
    assert code == 0
    (match,) = lines[0]["matches"]  # type: ignore[misc]
    assert match["terms"] == {"tuer": [[0, 4]], "police*": [[8, 14]]}


def test_bad_lines_are_reported_and_the_rest_processed(tmp_path: Path) -> None:
    stdin = (
        b'{"id": "1", "text": "tuer les flics"}\n'
        b"not json\n"
        b'{"id": 2, "text": "x"}\n'
        b'{"text": "no id"}\n'
        b"\n"
        b'{"id": "big", "text": "' + b"a" * MAX_LINE_BYTES + b'"}\n'
        b"\xff\xfe\n"
        b'{"id": "5", "text": "tuer les flics"}'
    )
    code, lines, err = run(tmp_path, stdin)
    assert code == 1
    assert [line["id"] for line in lines] == ["1", "5"]
    messages = err.splitlines()
    assert messages[0].startswith("line 2: invalid post: JSON is malformed")
    assert messages[1] == "line 3: invalid post: Expected `str`, got `int` - at `$.id`"
    assert messages[2] == "line 4: invalid post: Object missing required field `id`"
    assert messages[3] == f"line 6: longer than {MAX_LINE_BYTES} bytes, skipped"
    assert messages[4].startswith("line 7: invalid post:")


def test_every_blns_string_through_veille_match(tmp_path: Path, shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    stdin = "".join(
        json.dumps({"id": str(i), "text": s}) + "\n" for i, s in enumerate(strings)
    ).encode()
    code, lines, err = run(tmp_path, stdin)
    assert code == 0, err
    assert len(lines) == len(strings)
    for line, text in zip(lines, strings, strict=True):
        for m in line["matches"]:  # type: ignore[attr-defined]
            for start, end in m["spans"]:
                assert 0 <= start < end <= len(text)


def test_missing_rules_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["match", "--rules", str(tmp_path / "nope.toml")], input=b"")
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
