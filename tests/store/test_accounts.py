"""Accounts: users, sessions, tokens, teams and watch lists on both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from veille.store import Store
from veille.store.accounts import AccountError, Accounts
from veille.testing import FakeClock


def test_users_and_their_checks(store: Store) -> None:
    accounts = Accounts(store.engine, clock=store.clock)
    user = accounts.add_user("anne", "analyst", password_hash="h", display_name="Anne")
    assert (user.username, user.role, user.disabled) == ("anne", "analyst", False)
    for bad_name in ("Anne", "a b", "", "x" * 65, "é"):
        with pytest.raises(AccountError, match="username"):
            accounts.add_user(bad_name, "viewer")
    with pytest.raises(AccountError, match="role"):
        accounts.add_user("bert", "root")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user("anne", "viewer")
    assert accounts.update_user("anne", role="admin").role == "admin"
    with pytest.raises(AccountError, match="no user"):
        accounts.update_user("nobody", role="viewer")
    assert [u.username for u in accounts.list_users()] == ["anne"]


def test_sessions_expire_idle_and_end(store: Store, clock: FakeClock) -> None:
    accounts = Accounts(store.engine, clock=clock)
    user = accounts.add_user("anne", "viewer")
    accounts.create_session(user, "cookie", "csrf", timedelta(hours=1))
    found = accounts.session("cookie")
    assert found is not None
    assert found.user.username == "anne"
    assert found.csrf == "csrf"
    assert accounts.session("other") is None
    clock.advance(minutes=20)
    assert accounts.session("cookie", idle=timedelta(minutes=10)) is None
    assert accounts.session("cookie") is not None  # refreshes last_seen
    assert accounts.session("cookie", idle=timedelta(minutes=10)) is not None
    clock.advance(hours=1)
    assert accounts.session("cookie") is None
    accounts.create_session(user, "c2", "x", timedelta(hours=1))
    accounts.end_session("c2")
    assert accounts.session("c2") is None


def test_tokens_are_stored_hashed(store: Store) -> None:
    accounts = Accounts(store.engine, clock=store.clock)
    user = accounts.add_user("anne", "analyst")
    token = accounts.add_token(user, "ci", "vt_secret")
    assert accounts.token_user("vt_secret") == accounts.user("anne")
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM api_tokens").scalar_one()
    assert "vt_secret" not in stored
    assert len(stored) == 64
    assert accounts.revoke_token(user, token.id)
    assert not accounts.revoke_token(user, token.id)
    assert accounts.token_user("vt_secret") is None


def test_teams_and_watch_lists(store: Store) -> None:
    accounts = Accounts(store.engine, clock=store.clock)
    anne = accounts.add_user("anne", "analyst")
    accounts.add_user("bert", "viewer")
    accounts.add_team("cell")
    accounts.add_member("cell", "anne")
    accounts.add_member("cell", "anne")  # twice is fine
    accounts.add_watch_list("fraud", "cell", tags=["fraude"], pseudonymise=True)
    with pytest.raises(AccountError, match="names rules"):
        accounts.add_watch_list("empty", "cell")
    with pytest.raises(AccountError, match="no team"):
        accounts.add_watch_list("x", "ghosts", rules=["*"])
    assert [t.members for t in accounts.teams()] == [("anne",)]
    lists = accounts.watch_lists(anne)
    assert [w.name for w in lists] == ["fraud"]
    assert (lists[0].tags, lists[0].pseudonymise) == (("fraude",), True)
    bert = accounts.user("bert")
    assert bert is not None
    assert accounts.watch_lists(bert) == []
