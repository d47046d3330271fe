import tomllib
from pathlib import Path

from click.testing import CliRunner

from veille.cli import main
from veille.config import load_settings


def test_init_writes_config_and_rules_once(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rules = sorted(p.name for p in (tmp_path / "rules").iterdir())
    assert rules == ["de.toml", "en.toml", "fr.toml", "nl.toml"]
    settings = load_settings(tmp_path / "veille.toml")
    assert settings.pipeline.workers == 0
    for name in rules:
        parsed = tomllib.loads((tmp_path / "rules" / name).read_text())
        assert {r["id"].split(".")[0] for r in parsed["rule"]} == {name.removesuffix(".toml")}
    again = runner.invoke(main, ["init", str(tmp_path)])
    assert again.exit_code != 0
    assert "--force" in again.output
    assert runner.invoke(main, ["init", str(tmp_path), "--force"]).exit_code == 0
