"""``veille users``, ``veille teams``, ``veille audit`` and ``veille retention`` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from veille.cli import main
from veille.store import Store
from veille.store.accounts import Accounts


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("VEILLE_STORE__URL", f"sqlite:///{tmp_path / 'veille.db'}")
    monkeypatch.setenv("VEILLE_CONFIG", str(tmp_path / "none.toml"))
    return CliRunner()


def test_users_teams_and_audit(runner: CliRunner, tmp_path: Path) -> None:
    added = runner.invoke(
        main,
        ["users", "add", "anne", "--role", "admin", "--password-stdin"],
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    short = runner.invoke(main, ["users", "add", "bert", "--password-stdin"], input="short\n")
    assert short.exit_code != 0
    assert "12 characters" in short.output
    assert runner.invoke(main, ["users", "add", "bert", "--oidc"]).exit_code == 0
    assert runner.invoke(main, ["users", "add", "bert", "--oidc"]).exit_code != 0
    assert runner.invoke(main, ["users", "role", "bert", "analyst"]).exit_code == 0
    assert runner.invoke(main, ["users", "disable", "bert"]).exit_code == 0
    assert runner.invoke(main, ["users", "disable", "nobody"]).exit_code != 0
    token = runner.invoke(main, ["users", "token", "anne", "--name", "ci"])
    assert token.exit_code == 0
    assert token.output.startswith("vt_")
    assert runner.invoke(main, ["teams", "add", "cell", "--member", "anne"]).exit_code == 0
    watch = runner.invoke(
        main, ["teams", "watch", "cell", "fraud", "--tag", "fraude", "--pseudonymise"]
    )
    assert watch.exit_code == 0, watch.output
    listing = runner.invoke(main, ["users", "list"])
    assert "anne" in listing.output
    assert "disabled" in listing.output
    assert "password" in listing.output  # anne
    assert "oidc" in listing.output  # bert, reserved for single sign-on
    assert "fraud" in runner.invoke(main, ["teams", "list"]).output
    with Store.open(f"sqlite:///{tmp_path / 'veille.db'}") as store:
        accounts = Accounts(store.engine)
        bert = accounts.user("bert")
        assert bert is not None
        assert bert.disabled
        assert bert.role == "analyst"

    verified = runner.invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0
    assert verified.output.startswith("ok: 7 entries")
    head = runner.invoke(main, ["audit", "head"]).output.strip()
    assert runner.invoke(main, ["audit", "verify", "--expect", head]).exit_code == 0
    assert "user.disable" in runner.invoke(main, ["audit", "show"]).output
    with Store.open(f"sqlite:///{tmp_path / 'veille.db'}") as store, store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'someone else' WHERE id = 2")
    tampered = runner.invoke(main, ["audit", "verify"])
    assert tampered.exit_code == 1
    assert "entry 2: content changed" in tampered.output


def test_retention_run(runner: CliRunner) -> None:
    result = runner.invoke(main, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("deleted 0 posts")
