"""Logging in and staying safe: cookies, CSRF, lockout, throttling, tokens, headers."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from veille.testing import FakeClock
from veille.web.auth import RateLimiter, hash_password, verify_password
from veille.web.pages.auth import safe_next

from .conftest import PASSWORD, Env, csrf_of, login, make_env


def test_login_sets_a_hardened_session_cookie_and_audits(env: Env) -> None:
    client = env.client()
    login(client, "analyst")
    page = client.get("/conversations")
    assert page.status_code == 200
    # The cookie as the server set it: HttpOnly, SameSite, not Secure over plain http.
    fresh = env.client()
    form = fresh.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    done = fresh.post(
        "/login",
        data={"username": "analyst", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in done.headers.multi_items() if k == "set-cookie" and "veille_session" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie
    actions = [e.action for e in env.store_audit().entries()]
    assert actions.count("auth.login") == 2


def test_cookie_is_secure_and_host_bound_over_tls(tmp_path: Path, clock: FakeClock) -> None:
    env = make_env(tmp_path, clock, base_url="https://veille.example")
    client = TestClient(env.app, base_url="https://veille.example")
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/login",
        data={"username": "viewer", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in done.headers.multi_items() if k == "set-cookie" and "__Host-veille" in v
    )
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "Path=/" in cookie
    assert done.headers["strict-transport-security"].startswith("max-age=")
    env.store.close()


def test_wrong_password_and_lockout(env: Env) -> None:
    client = env.client()
    for _ in range(env.settings.web.login_attempts):
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        bad = client.post(
            "/login",
            data={"username": "viewer", "password": "wrong password!", "csrf_token": token},
        )
        assert bad.status_code == 401
    user = env.accounts.user("viewer")
    assert user is not None
    assert user.locked_until is not None
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    locked = client.post(
        "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token}
    )
    assert locked.status_code == 401
    env.clock.advance(minutes=env.settings.web.lockout_minutes + 1)
    login(client, "viewer")


def test_login_form_needs_its_csrf_token(env: Env) -> None:
    client = env.client()
    client.get("/login")
    response = client.post("/login", data={"username": "viewer", "password": PASSWORD})
    assert response.status_code == 403


def test_unsafe_requests_with_a_cookie_need_the_csrf_token(env: Env) -> None:
    client = env.client()
    csrf = login(client, "analyst")
    body = {"id": "x", "query": "police", "text": "police"}
    assert client.post("/api/rules/test", json=body).status_code == 403
    assert (
        client.post("/api/rules/test", json=body, headers={"X-CSRF-Token": "nope"}).status_code
        == 403
    )
    assert (
        client.post("/api/rules/test", json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
    )


def test_logout_ends_the_session(env: Env) -> None:
    client = env.client()
    csrf = login(client, "viewer")
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    after = client.get("/conversations", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


def test_disabling_a_user_ends_sessions_and_tokens(env: Env) -> None:
    client = env.client()
    login(client, "viewer")
    env.accounts.update_user("viewer", disabled=True)
    assert client.get("/conversations", follow_redirects=False).status_code == 303
    assert env.api("viewer").get("/api/me").status_code == 401


def test_expired_and_revoked_tokens_are_refused(env: Env) -> None:
    api = env.api("viewer")
    assert api.get("/api/me").json()["username"] == "viewer"
    env.clock.advance(days=2)
    expired = api.get("/api/me")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "unauthenticated"
    fresh = env.api("admin")
    env.clock.now -= timedelta(days=2)
    created = fresh.post("/api/me/tokens", json={"name": "ci", "days": 1}).json()
    assert created["token"].startswith("vt_")
    client = env.client()
    client.headers["Authorization"] = f"Bearer {created['token']}"
    assert client.get("/api/me").status_code == 200
    assert fresh.delete(f"/api/me/tokens/{created['id']}").status_code == 204
    assert client.get("/api/me").status_code == 401


def test_login_is_rate_limited_per_client_address(tmp_path: Path, clock: FakeClock) -> None:
    env = make_env(tmp_path, clock, login_rate_per_minute=3)
    client = env.client()
    statuses = []
    for _ in range(5):
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        statuses.append(
            client.post(
                "/login", data={"username": "nobody", "password": "x" * 12, "csrf_token": token}
            ).status_code
        )
    assert statuses == [401, 401, 401, 429, 429]
    env.store.close()


def test_rate_limiter_window_slides() -> None:
    limiter = RateLimiter(2, window=10)
    assert limiter.hit("a", 0)
    assert limiter.hit("a", 1)
    assert not limiter.hit("a", 2)
    assert limiter.hit("b", 2)
    assert limiter.hit("a", 10.5)


def test_password_policy_and_verification() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")

    class U:
        password_hash = stored

    assert verify_password(U(), PASSWORD)  # type: ignore[arg-type]
    assert not verify_password(U(), PASSWORD + "!")  # type: ignore[arg-type]
    assert not verify_password(None, PASSWORD)
    with pytest.raises(ValueError, match="12"):
        hash_password("short")


def test_no_open_redirect_after_login() -> None:
    assert safe_next("/rules?x=1") == "/rules?x=1"
    for hostile in (
        "//evil.example",
        "https://evil.example/",
        "/\\evil",
        "javascript:alert(1)",
        "",
    ):
        assert safe_next(hostile) == "/"


def test_security_headers_on_every_page(env: Env) -> None:
    page = env.client().get("/login")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script anywhere


def test_csrf_of_page_is_per_session(env: Env) -> None:
    a, b = env.client(), env.client()
    login(a, "viewer")
    login(b, "viewer")
    assert csrf_of(a) != csrf_of(b)
