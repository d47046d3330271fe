"""``veille eval threat``: per-language precision, recall and F1 on development data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from veille.cli import main


def evaluate(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["eval", "threat", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_written_cases_are_measured_per_language_without_shared_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEILLE_SHARED_DATA", raising=False)
    result = evaluate()
    sets = result["sets"]
    assert [(s["set"], s["lang"], s["n"]) for s in sets] == [  # type: ignore[attr-defined]
        ("written cases, held out", lang, 60) for lang in ("fr", "nl", "de", "en")
    ]
    for s in sets:  # type: ignore[attr-defined]
        assert 0 <= s["precision"] <= 1
        assert s["threats"] == 20
        assert sum(s["confusion"].values()) == 60
    assert result["false_alarms"] == []
    kinds = result["held_out_by_kind"]
    assert {"news", "quote", "negation", "condemn", "idiom"} <= set(kinds)  # type: ignore[arg-type]


def test_a_missing_data_folder_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "threat", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "is not a folder" in result.stderr


@pytest.mark.slow
def test_germeval_dev_and_false_alarms_with_shared_data(shared_data: Path) -> None:
    result = evaluate("--data", str(shared_data))
    germeval = result["sets"][0]  # type: ignore[index]
    assert germeval["set"] == "GermEval 2026 vio, dev split"
    assert germeval["n"] > 1000
    assert "call2violence -> threat" in germeval["confusion"] or germeval["recall"] == 0
    alarms = {a["set"]: a for a in result["false_alarms"]}  # type: ignore[attr-defined]
    assert "GermEval 2018, not offensive" in alarms
    assert all(a["rate"] < 0.1 for a in alarms.values())
