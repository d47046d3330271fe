"""A dashboard over a real SQLite store, with rule files, users of every role and some posts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from veille.config import Settings
from veille.match.matcher import Matcher
from veille.model import Author, Post
from veille.rules.files import load_rules
from veille.store import Store
from veille.store.accounts import Accounts
from veille.store.audit import AuditLog
from veille.testing import FakeClock
from veille.web import create_app
from veille.web.app import make_web
from veille.web.auth import TOKEN_PREFIX, hash_password, new_secret

PASSWORD = "correct horse battery"
RULES = """\
# Rules for the web tests. This comment must survive an edit made in the dashboard.
[[rule]]
id = "t.police"
name = "Police"
query = 'police OR politie'
severity = "high"
tags = ["ordre"]

[[rule]]
id = "t.fraud"
name = "Fraud"
query = 'arnaque* OR phishing'
severity = "medium"
tags = ["fraude"]
"""
ROLES = ("admin", "analyst", "viewer")


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class Env:
    app: FastAPI
    store: Store
    settings: Settings
    clock: FakeClock
    rules_dir: Path
    tokens: dict[str, str]

    @property
    def accounts(self) -> Accounts:
        return Accounts(self.store.engine, clock=self.clock)

    def store_audit(self) -> AuditLog:
        return AuditLog(self.store.engine, clock=self.clock)

    def client(self) -> TestClient:
        return TestClient(self.app, base_url="http://testserver")

    def api(self, role: str) -> TestClient:
        """A client sending the bearer token of the user named after ``role``."""
        client = self.client()
        client.headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return client

    def write(self, posts: list[Post]) -> list[int]:
        matcher = Matcher(load_rules([self.rules_dir]), self.store.versions)
        result = self.store.write_batch(posts, [matcher.match(p) for p in posts])
        return list(result.post_ids)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return csrf_of(client)


def csrf_of(client: TestClient) -> str:
    page = client.get("/account")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


_apps: dict[str, FastAPI] = {}


def shared_app(settings: Settings, store: Store) -> FastAPI:
    """Building the routes costs about a second: tests share one app and give it their own
    services (``app.state.web``), which is all that differs between them."""
    if "app" not in _apps:
        _apps["app"] = create_app(settings, store)
    return _apps["app"]


def make_env(tmp_path: Path, clock: FakeClock, **web: object) -> Env:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "base.toml").write_text(RULES, encoding="utf-8")
    settings = Settings(
        store={"url": f"sqlite:///{tmp_path / 'veille.db'}"},
        rules={"paths": [str(rules_dir)]},
        web={"pseudonym_key": "test-key", **web},
    )
    store = Store.open(settings.store.url, clock=clock)
    app = shared_app(settings, store)
    app.state.web = make_web(settings, store, clock=clock)
    # The inbox's event stream ends after this long: a test that opens it (the authorisation
    # matrix calls every route) must not wait the production minutes, whatever ran before.
    app.state.stream_seconds = 0.5
    accounts = Accounts(store.engine, clock=clock)
    tokens = {}
    for role in (*ROLES, "outsider", "trends"):
        user = accounts.add_user(
            role, role if role in ROLES else "analyst", password_hash=password_hash()
        )
        tokens[role] = new_secret(TOKEN_PREFIX)
        accounts.add_token(user, "tests", tokens[role], expires_at=clock() + timedelta(days=1))
    accounts.add_team("cell")
    accounts.add_member("cell", "analyst")
    accounts.add_member("cell", "viewer")
    accounts.add_watch_list("everything", "cell", rules=["*"])
    accounts.add_team("statistics")
    accounts.add_member("statistics", "trends")
    accounts.add_watch_list("fraud trends", "statistics", tags=["fraude"], pseudonymise=True)
    return Env(app, store, settings, clock, rules_dir, tokens)


@pytest.fixture
def env(tmp_path: Path, clock: FakeClock) -> Iterator[Env]:
    built = make_env(tmp_path, clock)
    yield built
    built.store.close()


def sample_posts(clock: FakeClock) -> list[Post]:
    now = clock()
    return [
        Post(
            platform="mastodon",
            native_id="1",
            text="La police arrive au parc",
            author=Author(id="u1", handle="anne", display_name="Anne"),
            url="https://example.org/@anne/1",
            lang="fr",
            created_at=now - timedelta(hours=2),
        ),
        Post(
            platform="mastodon",
            native_id="2",
            text="Encore une arnaque par sms",
            author=Author(id="u2", handle="bert"),
            url="javascript:alert(1)",
            lang="fr",
            reply_to="1",
            root_id="1",
            created_at=now - timedelta(hours=1),
        ),
        Post(
            platform="mastodon",
            native_id="3",
            text="Phishing au nom de la banque",
            author=Author(id="u3", handle="carl"),
            url="https://example.org/@carl/3",
            lang="fr",
            created_at=now - timedelta(minutes=30),
        ),
        Post(
            platform="mastodon",
            native_id="4",
            text="Il fait beau",
            author=Author(id="u4", handle="dora"),
            lang="fr",
            created_at=now - timedelta(minutes=10),
        ),
    ]
