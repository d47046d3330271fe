"""``veille db upgrade`` and ``veille db current``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from veille.cli import main


def test_upgrade_then_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v.db'}"
    runner = CliRunner()
    first = runner.invoke(main, ["db", "current", "--url", url])
    assert first.exit_code == 0
    assert "database: empty" in first.output
    assert "needs `veille db upgrade`" in first.output
    done = runner.invoke(main, ["db", "upgrade", "--url", url])
    assert done.exit_code == 0
    assert "upgraded from empty" in done.output
    again = runner.invoke(main, ["db", "upgrade", "--url", url])
    assert "already at" in again.output
    assert "up to date" in runner.invoke(main, ["db", "current", "--url", url]).output


def test_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade", "--url", "mysql://x/y"])
    assert result.exit_code == 1
    assert "only sqlite and postgresql are supported" in result.output
