"""``veille protected``: names in from stdin, only hashes and labels on disk."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from veille.cli import main


def invoke(*args: str, stdin: str = "") -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["protected", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_add_list_remove_and_detect(tmp_path: Path) -> None:
    path = tmp_path / "protected.json"
    code, out, err = invoke(
        "add", "--file", str(path), stdin="Jan Peeters\tofficer 4711\nAnne Dupont\tofficer 0815\n"
    )
    assert code == 0, err
    assert "2 added, 2 protected" in out
    assert "peeters" not in path.read_text("utf-8").lower()
    code, out, _ = invoke("list", "--file", str(path))
    assert out.splitlines() == ["officer 0815\t2 word(s)", "officer 4711\t2 word(s)"]

    config = tmp_path / "veille.toml"
    config.write_text(f'[detect.protected]\npath = "{path}"\n', "utf-8")
    analyzed = CliRunner().invoke(
        main,
        ["analyze", "--config", str(config)],
        input=json.dumps({"id": "1", "text": "JAN PEETERS woont Wetstraat 16"}) + "\n",
    )
    line = json.loads(analyzed.stdout)
    assert [s["kind"] for s in line["sensitive"]] == ["protected_name", "doxxing", "address"]
    assert "Peeters" not in json.dumps(line["urgency"])

    code, out, _ = invoke("remove", "officer 4711", "--file", str(path))
    assert (code, out.strip()) == (0, "1 removed, 1 protected")
    code, _, err = invoke("remove", "officer 4711", "--file", str(path))
    assert code == 1
    assert "no entry labelled 'officer 4711'" in err


def test_bad_lines_write_nothing(tmp_path: Path) -> None:
    path = tmp_path / "protected.json"
    code, _, err = invoke("add", "--file", str(path), stdin="Jan Peeters\n!!!\tx\nok name\tlabel\n")
    assert code == 1
    assert err.splitlines() == [
        "line 1: expected NAME<TAB>LABEL",
        "line 2: a protected name needs at least one word",
    ]
    assert not path.exists()


def test_a_file_is_required(tmp_path: Path) -> None:
    code, _, err = invoke("list", "--config", str(tmp_path / "none.toml"))
    assert code == 2
    assert "no file" in err
