"""``veille eval sentiment|language`` and the language/sentiment keys of ``veille analyze``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from veille.cli import main


def test_eval_sentiment_prints_macro_f1_per_language(shared_data: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "sentiment", "--data", str(shared_data)])
    assert result.exit_code == 0, result.output
    for name in ("fr (xlm-t val)", "de (xlm-t val)", "en (xlm-t val)", "nl (hand-written)"):
        assert name in result.stdout
    mean = float(result.stdout.split("mean macro-F1 over FR/DE/EN: ")[1].split()[0])
    assert mean >= 0.62


def test_eval_sentiment_rejects_a_folder_without_data(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "sentiment", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "no sentiment/ folder" in result.output


def test_eval_language_needs_data_in_an_explicit_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "language", "--data", str(tmp_path)])
    assert result.exit_code == 2
    assert "no sentiment/ folder" in result.output


def test_unknown_sentiment_backend_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "veille.toml"
    cfg.write_text('[sentiment]\nbackend = "onnx"\n')
    result = CliRunner().invoke(main, ["eval", "sentiment", "--config", str(cfg)])
    assert result.exit_code == 1
    assert "model_path" in result.output


def test_analyze_adds_lang_and_sentiment() -> None:
    stdin = (
        '{"id": "1", "text": "Wat een geweldige dag, echt super bedankt!", "lang": "fr"}\n'
        '{"id": "2", "text": "Service lamentable, c\'est une honte"}\n'
        '{"id": "3", "text": "ok", "lang": "nl-BE"}\n'
        '{"id": "4", "text": "ok"}\n'
    )
    result = CliRunner().invoke(main, ["analyze"], input=stdin.encode())
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["lang"] for line in lines] == ["nl", "fr", "nl", "und"]
    assert lines[0]["sentiment"]["label"] == "positive"
    assert lines[1]["sentiment"]["label"] == "negative"
    for line in lines:
        assert set(line["sentiment"]) == {"label", "score", "polarity"}
        assert 0.0 <= line["sentiment"]["score"] <= 1.0
        assert -1.0 <= line["sentiment"]["polarity"] <= 1.0
