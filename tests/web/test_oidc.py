"""Single sign-on through the real redirect dance with a fake OpenID provider on loopback."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from veille.config import Settings
from veille.store.audit import AuditEntry
from veille.testing import FakeClock
from veille.web.app import make_web
from veille.web.oidc import OidcClient, OidcError, claim_values, identity

from .conftest import PASSWORD, Env, csrf_of, make_env
from .oidc_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider, rsa_key, serve

BASE = "http://localhost"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with serve(lambda: 0) as running:
        yield running


def oidc_conf(issuer_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "issuer": issuer_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "roles": {
            "veille-admins": "admin",
            "veille-analysts": "analyst",
            "veille-viewers": "viewer",
        },
        "teams": {"cell-members": ["cell"], "stats-members": ["statistics"]},
        **overrides,
    }


def with_oidc(env: Env, provider: FakeProvider, *, base_url: str = BASE, **overrides: Any) -> None:
    """Give the test app a configuration with ``[web.oidc]`` on (over the same store)."""
    web = env.settings.web.model_dump(exclude={"oidc", "base_url"})
    env.settings = Settings(
        store={"url": env.settings.store.url},
        rules={"paths": [str(env.rules_dir)]},
        web={**web, "base_url": base_url, "oidc": oidc_conf(provider.issuer, **overrides)},
    )
    env.app.state.web = make_web(env.settings, env.store, clock=env.clock)


@pytest.fixture
def sso(tmp_path: Path, clock: FakeClock, provider: FakeProvider) -> Iterator[Env]:
    env = make_env(tmp_path, clock)
    provider.reset(groups=["veille-analysts", "cell-members"], name="Anne Dupont")
    provider.now = lambda: int(clock().timestamp())
    with_oidc(env, provider)
    yield env
    env.store.close()


def client(env: Env) -> TestClient:
    return TestClient(env.app, base_url=BASE)


def dance(web: TestClient, next_path: str = "/rules") -> httpx.Response:
    """Log in: veille → the provider's authorize endpoint → back to the callback."""
    start = web.get("/login/oidc", params={"next": next_path}, follow_redirects=False)
    assert start.status_code == 303, start.text
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    return web.get(at_provider.headers["location"], follow_redirects=False)


def oidc_failures(env: Env) -> list[AuditEntry]:
    """The OIDC refusals, oldest first."""
    return [
        e
        for e in reversed(env.store_audit().entries())
        if e.action == "auth.failed" and e.detail.get("method") == "oidc"
    ]


def logged_in(web: TestClient) -> bool:
    return web.get("/account", follow_redirects=False).status_code == 200


def test_full_login_creates_the_account_with_mapped_role_and_team(
    sso: Env, provider: FakeProvider
) -> None:
    web = client(sso)
    start = web.get("/login/oidc", params={"next": "/rules"}, follow_redirects=False)
    sent = parse_qs(urlsplit(start.headers["location"]).query)
    assert start.headers["location"].startswith(provider.issuer + "/authorize?")
    assert sent["redirect_uri"] == [BASE + "/login/oidc/callback"]
    assert sent["code_challenge_method"] == ["S256"]
    assert sent["scope"] == ["openid profile email"]
    assert len(sent["state"][0]) >= 32
    assert len(sent["nonce"][0]) >= 32
    flow_cookie = start.headers["set-cookie"]
    assert "HttpOnly" in flow_cookie
    assert "SameSite=lax" in flow_cookie
    assert "Path=/login/oidc" in flow_cookie

    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    done = web.get(at_provider.headers["location"], follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/rules"
    assert web.get("/rules").status_code == 200

    user = sso.accounts.user("anne.dupont")
    assert user is not None
    assert (user.role, user.display_name) == ("analyst", "Anne Dupont")
    assert user.oidc_subject == f"{provider.issuer}|u-1001"
    assert user.password_hash is None
    assert "anne.dupont" in next(t for t in sso.accounts.teams() if t.name == "cell").members
    entries = sso.store_audit().entries()
    login = next(e for e in entries if e.action == "auth.login")
    assert login.actor == "anne.dupont"
    assert login.detail["method"] == "oidc"
    assert login.detail["role"] == "analyst"
    assert login.detail["teams"] == ["cell"]
    assert any(e.action == "user.add" and e.target == "anne.dupont" for e in entries)
    assert provider.calls == ["discovery", "authorize", "token", "jwks"]


def test_role_and_mapped_teams_follow_the_provider_at_each_login(
    sso: Env, provider: FakeProvider
) -> None:
    assert dance(client(sso)).status_code == 303
    sso.accounts.add_team("by-hand")
    sso.accounts.add_member("by-hand", "anne.dupont")
    provider.claims["groups"] = ["veille-viewers", "veille-admins", "stats-members"]
    assert dance(client(sso)).status_code == 303
    user = sso.accounts.user("anne.dupont")
    assert user is not None
    assert user.role == "admin"
    teams = {t.name: t.members for t in sso.accounts.teams()}
    assert "anne.dupont" not in teams["cell"]
    assert "anne.dupont" in teams["statistics"]
    assert "anne.dupont" in teams["by-hand"]  # not managed by the mapping: left alone
    assert len(sso.accounts.list_users()) == 6  # five from the fixture, one created once


def _header(token: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).rstrip(b"=").decode()


SPOILED = {
    "bad signature": ({"signing": "rogue"}, "bad signature"),
    "wrong audience": ({"aud": "another-client"}, "wrong aud"),
    "expired": ({"exp": -3600, "iat": -4000}, "expired"),
    "nonce mismatch": ({"nonce": "not-the-one-we-sent"}, "wrong nonce"),
    "no nonce": ({"nonce": None}, "missing claim nonce"),
    "wrong issuer": ({"iss": "https://idp.evil.example"}, "wrong iss"),
    "issued in the future": ({"iat": 3600}, "wrong iat"),
    "issued long ago": ({"iat": -7200, "exp": 600}, "issued too long ago"),
    "several audiences, no azp": ({"aud": [CLIENT_ID, "other"]}, "azp"),
    "unknown key id": ({"kid": "nobody-knows"}, "no published key"),
    "no sub": ({"sub": None}, "missing claim sub"),
}


@pytest.mark.parametrize("case", list(SPOILED))
def test_a_spoiled_id_token_is_refused_and_audited(
    sso: Env, provider: FakeProvider, case: str
) -> None:
    spoil, reason = SPOILED[case]
    now = provider.now()
    for name, value in spoil.items():
        if name == "signing":
            provider.signing_key = rsa_key(value)
            provider.header["kid"] = "k1"  # claims to be the published key
        elif name == "kid":
            provider.header["kid"] = value
        elif name in ("exp", "iat"):
            provider.spoil[name] = now + value
        else:
            provider.spoil[name] = value
    web = client(sso)
    done = dance(web)
    assert done.status_code == 401, done.text
    assert "Single sign-on failed" in done.text
    assert not logged_in(web)
    assert sso.accounts.user("anne.dupont") is None
    failures = oidc_failures(sso)
    assert len(failures) == 1
    assert reason in failures[0].reason, failures[0]


def test_an_unmapped_role_is_refused(sso: Env, provider: FakeProvider) -> None:
    provider.claims["groups"] = ["staff", "cell-members"]
    web = client(sso)
    done = dance(web)
    assert done.status_code == 403
    assert "gives no access to veille" in done.text
    assert not logged_in(web)
    assert sso.accounts.user("anne.dupont") is None
    assert "no mapped role" in oidc_failures(sso)[0].reason


def test_state_mismatch_missing_or_forged_flow_cookie_and_slow_logins_are_refused(
    sso: Env, provider: FakeProvider, clock: FakeClock
) -> None:
    web = client(sso)
    start = web.get("/login/oidc", follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
    tampered = re.sub(r"state=[^&]+", "state=forged", back)
    assert web.get(tampered, follow_redirects=False).status_code == 401
    # The real answer, in another browser (no flow cookie): refused too.
    assert client(sso).get(back, follow_redirects=False).status_code == 401
    # A flow cookie we did not sign.
    other = client(sso)
    other.cookies.set("veille_oidc", "eyJ4IjoxfQ.bm90LW91cnM")
    assert other.get(back, follow_redirects=False).status_code == 401
    # Too slow: the flow expires after max_age_seconds.
    slow = client(sso)
    start = slow.get("/login/oidc", follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
    clock.advance(minutes=11)
    assert slow.get(back, follow_redirects=False).status_code == 401
    reasons = [e.reason for e in oidc_failures(sso)]
    assert "state mismatch" in reasons[0]
    assert "state cookie missing" in reasons[1]
    assert "bad signature" in reasons[2]
    assert "took too long" in reasons[3]
    assert sso.accounts.user("anne.dupont") is None


def test_an_error_from_the_provider_is_shown_and_audited(sso: Env) -> None:
    web = client(sso)
    start = web.get("/login/oidc", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    done = web.get(
        "/login/oidc/callback",
        params={"error": "access_denied", "error_description": "user said no", "state": state},
    )
    assert done.status_code == 401
    assert "access_denied" in oidc_failures(sso)[0].reason


def test_hostile_callback_parameters_are_refused_cleanly(sso: Env) -> None:
    web = client(sso)
    web.get("/login/oidc", follow_redirects=False)
    for value in ("", "x" * 10_000, "<script>alert(1)</script>", "\u202e\ufeff", "%00", "'"):
        done = web.get("/login/oidc/callback", params={"code": value, "state": value})
        assert done.status_code == 401
        assert "<script>alert(1)" not in done.text


def test_without_just_in_time_creation_an_admin_reserves_the_account(
    sso: Env, provider: FakeProvider
) -> None:
    with_oidc(sso, provider, create_users=False)
    web = client(sso)
    refused = dance(web)
    assert refused.status_code == 403
    assert "no veille account" in refused.text
    assert "create_users is off" in oidc_failures(sso)[0].reason
    sso.accounts.add_user("anne.dupont", "viewer")  # veille users add anne.dupont --oidc
    assert dance(web).status_code == 303
    user = sso.accounts.user("anne.dupont")
    assert user is not None
    assert user.oidc_subject == f"{provider.issuer}|u-1001"
    assert user.role == "analyst"


def test_a_local_account_is_never_taken_over(sso: Env, provider: FakeProvider) -> None:
    provider.claims["preferred_username"] = "admin"  # the fixture's local admin, with a password
    web = client(sso)
    done = dance(web)
    assert done.status_code == 403
    assert not logged_in(web)
    admin = sso.accounts.user("admin")
    assert admin is not None
    assert admin.oidc_subject is None
    assert "belongs to another account" in oidc_failures(sso)[0].reason


def test_a_disabled_account_is_refused(sso: Env) -> None:
    assert dance(client(sso)).status_code == 303
    sso.accounts.update_user("anne.dupont", disabled=True)
    web = client(sso)
    done = dance(web)
    assert done.status_code == 403
    assert "disabled" in done.text
    assert not logged_in(web)


def test_an_unusable_username_claim_is_refused(sso: Env, provider: FakeProvider) -> None:
    provider.claims["preferred_username"] = "Anne Dupont <script>"
    assert dance(client(sso)).status_code == 401
    assert "preferred_username" in oidc_failures(sso)[0].reason


def test_rotated_keys_are_fetched_again(sso: Env, provider: FakeProvider, clock: FakeClock) -> None:
    assert dance(client(sso)).status_code == 303
    provider.published = [rsa_key("k1"), rsa_key("k2")]
    provider.signing_key = rsa_key("k2")
    clock.advance(minutes=2)
    assert dance(client(sso)).status_code == 303
    assert provider.calls.count("jwks") == 2
    assert provider.calls.count("discovery") == 1


def test_local_login_can_be_turned_off(sso: Env, provider: FakeProvider) -> None:
    with_oidc(sso, provider, local_login=False, button="Police SSO")
    web = client(sso)
    page = web.get("/login")
    assert "Police SSO" in page.text
    assert 'name="password"' not in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is None
    done = web.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "x"})
    assert done.status_code == 403
    assert not logged_in(web)
    refusal = sso.store_audit().entries(action="auth.failed")[0]
    assert refusal.reason == "local login is disabled"
    # API tokens still work.
    assert sso.api("admin").get("/api/alerts").status_code == 200


def test_both_ways_in_are_offered_by_default(sso: Env) -> None:
    page = client(sso).get("/login?next=/rules")
    assert 'href="/login/oidc?next=%2Frules"' in page.text
    assert 'name="password"' in page.text


def test_logout_also_ends_the_provider_session(sso: Env, provider: FakeProvider) -> None:
    web = client(sso)
    assert dance(web).status_code == 303
    done = web.post("/logout", data={"csrf_token": csrf_of(web)}, follow_redirects=False)
    assert done.status_code == 303
    target = urlsplit(done.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == provider.issuer + "/logout"
    assert parse_qs(target.query) == {
        "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": [BASE + "/login"],
    }
    assert not logged_in(web)
    # The pages let the logout form be redirected to the provider, and nowhere else.
    csp = web.get("/login").headers["content-security-policy"]
    assert f"form-action 'self' {provider.issuer};" in csp
    # A local account logs out locally only.
    local = client(sso)
    page = local.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    local.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    out = local.post("/logout", data={"csrf_token": csrf_of(local)}, follow_redirects=False)
    assert out.headers["location"] == "/login"


def test_an_unreachable_or_mismatched_provider_is_reported(
    sso: Env, provider: FakeProvider
) -> None:
    with_oidc(sso, provider, issuer=provider.issuer + "/realms/other")
    done = client(sso).get("/login/oidc", follow_redirects=False)
    assert done.status_code == 502
    assert "unavailable" in done.text
    assert "discovery: HTTP 404" in oidc_failures(sso)[0].reason
    with_oidc(sso, provider, issuer="http://127.0.0.1:9")  # nothing listens on the discard port
    assert client(sso).get("/login/oidc", follow_redirects=False).status_code == 502
    assert "ConnectError" in oidc_failures(sso)[1].reason


def test_oidc_routes_are_absent_when_off(tmp_path: Path, clock: FakeClock) -> None:
    env = make_env(tmp_path, clock)
    assert env.client().get("/login/oidc").status_code == 404
    assert env.client().get("/login/oidc/callback?code=x&state=y").status_code == 404
    assert "/login/oidc" not in env.client().get("/login").text
    env.store.close()


# -- configuration, checked at start ----------------------------------------------------------


@pytest.mark.parametrize(
    ("oidc", "message"),
    [
        ({"issuer": ""}, "issuer must be an https:// URL"),
        ({"issuer": "http://sso.example.be"}, "issuer must be an https:// URL"),
        ({"client_id": ""}, "client_id is missing"),
        ({"client_secret": ""}, "VEILLE_WEB__OIDC__CLIENT_SECRET"),
        ({"roles": {}}, "roles maps no claim value"),
        ({"roles": {"x": "boss"}}, "roles.x"),
        ({"scopes": ["profile"]}, "scopes must include 'openid'"),
        ({"algorithms": ["HS256", "none"]}, "only asymmetric signatures"),
        ({"enabled": False, "local_login": False}, "nobody could log in"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_error(
    oidc: dict[str, Any], message: str
) -> None:
    conf = oidc_conf("https://sso.example.be/realms/police", **oidc)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings(web={"base_url": "https://veille.example.be", "oidc": conf})


def test_oidc_needs_a_base_url() -> None:
    with pytest.raises(ValidationError, match="needs \\[web\\] base_url"):
        Settings(web={"oidc": oidc_conf("https://sso.example.be")})


def test_the_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEILLE_WEB__OIDC__CLIENT_SECRET", "from-the-environment")
    conf = oidc_conf("https://sso.example.be")
    del conf["client_secret"]
    settings = Settings(web={"base_url": "https://veille.example.be", "oidc": conf})
    assert settings.web.oidc.client_secret == "from-the-environment"


def test_a_mapping_to_a_missing_team_is_refused_at_start(sso: Env, provider: FakeProvider) -> None:
    with pytest.raises(ValueError, match="teams that do not exist: ghosts"):
        with_oidc(sso, provider, teams={"g": ["ghosts"]})


# -- claims and tokens, without the dance -------------------------------------------------------


def test_claims_map_from_nested_paths_and_single_strings() -> None:
    claims = {
        "iss": "https://kc.example/realms/p",
        "sub": "42",
        "preferred_username": "Bert.Peeters@Police.be",
        "realm_access": {"roles": ["veille-viewers", "offline_access", 7]},
        "team": "cell-members",
    }
    conf = Settings(
        web={
            "base_url": "https://veille.example.be",
            "oidc": oidc_conf(
                "https://kc.example/realms/p", roles_claim="realm_access.roles", teams_claim="team"
            ),
        }
    ).web.oidc
    who = identity(conf, claims)
    assert (who.username, who.role, who.teams) == ("bert.peeters@police.be", "viewer", {"cell"})
    assert who.subject == "https://kc.example/realms/p|42"
    assert claim_values({"a": {"b": 3}}, "a.b") == []
    assert claim_values({"a": "x"}, "a.b") == []


def test_unsigned_and_symmetric_tokens_are_refused(sso: Env, provider: FakeProvider) -> None:
    oidc = sso.app.state.web.oidc
    assert isinstance(oidc, OidcClient)
    payload = _header({"iss": provider.issuer, "aud": CLIENT_ID, "sub": "1", "nonce": "n"})
    for alg in ("none", "HS256"):
        token = f"{_header({'alg': alg, 'kid': 'k1'})}.{payload}.c2ln"
        with pytest.raises(OidcError, match="is not accepted"):
            oidc.verify(token, nonce="n")
    for garbage in ("", "a.b", "!!!.e30.x", "e30.e30.e30"):
        with pytest.raises(OidcError, match="ID token"):
            oidc.verify(garbage, nonce="n")
