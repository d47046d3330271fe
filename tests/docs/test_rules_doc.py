"""The examples of docs/rules.md run: each ``example`` block's query must match its ``match:``
lines and not its ``no:`` lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from veille.match import Matcher
from veille.model import Post
from veille.rules import Rule, load_rules

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


@dataclass
class Example:
    line: int
    query: str = ""
    evasion: bool = False
    cases: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)


def examples() -> list[Example]:
    out: list[Example] = []
    current: Example | None = None
    fields: dict[str, str] = {}
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), 1):
        if line == "```example":
            current, fields = Example(number), {}
        elif line == "```" and current is not None:
            out.append(current)
            current = None
        elif current is not None:
            key, _, value = line.partition(": ")
            if key == "query":
                current.query = value
            elif key == "evasion":
                current.evasion = value == "true"
            elif key in ("lang", "platform"):
                fields = {**fields, key: value}
            elif key in ("match", "no"):
                current.cases.append((value, key == "match", fields))
            else:
                raise AssertionError(f"docs/rules.md:{number}: unknown example line {line!r}")
    return out


EXAMPLES = examples()


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 15
    assert all(e.query and e.cases for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"line{e.line}")
def test_example(example: Example) -> None:
    matcher = Matcher([Rule.of("doc", example.query, evasion=example.evasion)])
    for text, expected, fields in example.cases:
        post = Post(
            platform=fields.get("platform", "bluesky"),
            native_id="1",
            text=text,
            lang=fields.get("lang", ""),
        )
        got = bool(matcher.match(post))
        assert got == expected, f"docs/rules.md:{example.line}: {example.query!r} on {text!r}"


def test_rule_file_example_loads(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "r.toml"
    path.write_text(block, encoding="utf-8")
    (rule,) = load_rules([path])
    assert rule.id == "menaces-police"
    assert rule.evasion
