"""The dashboard pages render for real users, and the rule editor works through its forms."""

from __future__ import annotations

import re

from .conftest import Env, login, sample_posts


def test_pages_render_for_an_analyst(env: Env) -> None:
    env.write(sample_posts(env.clock))
    client = env.client()
    login(client, "analyst")
    for path in (
        "/conversations",
        "/conversations/mastodon:1",
        "/rules",
        "/rules/t.police",
        "/rules/new",
        "/account",
    ):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "<script>" not in page.text
    thread = client.get("/conversations/mastodon:1").text
    assert '<mark class="match">police</mark>' in thread
    assert 'href="https://example.org/@anne/1"' in thread
    assert "javascript:" not in thread
    assert client.get("/audit").status_code == 403


def test_root_and_login_redirects(env: Env) -> None:
    client = env.client()
    first = client.get("/conversations?following=true", follow_redirects=False)
    assert first.headers["location"] == "/login?next=/conversations%3Ffollowing%3Dtrue"
    assert client.get("/", follow_redirects=False).status_code == 303
    assert client.get("/healthz").json()["status"] == "ok"
    docs = client.get("/api/docs")
    assert "swagger-ui-bundle" in docs.text
    assert "cdn" not in docs.text.lower()


def test_rule_editor_forms(env: Env) -> None:
    env.write(sample_posts(env.clock))
    client = env.client()
    csrf = login(client, "analyst")
    page = client.get("/rules/t.fraud").text
    etag = re.search(r'name="etag" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    form = {
        "id": "t.fraud",
        "query": "arnaque* OR (",
        "severity": "medium",
        "tags": "fraude",
        "enabled": "true",
        "csrf_token": csrf,
    }
    problems = client.post("/rules/_validate", data=form)
    assert problems.status_code == 200
    assert 'class="error"' in problems.text
    assert '<mark class="bad">' in problems.text
    tested = client.post(
        "/rules/_test", data={**form, "query": "arnaque*", "text": "Une arnaque !"}
    )
    assert "<mark>arnaque</mark>" in tested.text
    dry = client.post(
        "/rules/_dry-run", data={**form, "query": "arnaque* OR phishing", "days": "2"}
    )
    assert 'class="count">2<' in dry.text
    bad = client.post("/rules", data={**form, "etag": etag, "reason": "broken"})
    assert bad.status_code == 422
    assert "query" in bad.text
    saved = client.post(
        "/rules",
        data={
            **form,
            "query": "arnaque* OR phishing OR escroquerie",
            "etag": etag,
            "reason": "synonym",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    history = client.get("/rules/t.fraud").text
    assert "synonym" in history
    assert "escroquerie" in history


def test_admin_sees_the_audit_log_verified(env: Env) -> None:
    client = env.client()
    login(client, "admin")
    page = client.get("/audit")
    assert page.status_code == 200
    assert "Hash chain intact" in page.text
    assert "auth.login" in page.text


def test_token_page(env: Env) -> None:
    client = env.client()
    csrf = login(client, "viewer")
    created = client.post(
        "/account/tokens", data={"name": "script", "days": "30", "csrf_token": csrf}
    )
    assert created.status_code == 200
    assert re.search(r'<pre class="secret">vt_[A-Za-z0-9_-]+</pre>', created.text)
