"""A fake OpenID provider served on loopback: discovery, authorize, token, JWKS, end-session.

It behaves as a real provider does for one confidential client — checks the client's
credentials, the redirect URI and the PKCE verifier, and signs ID tokens (RS256) with a test
key — and lets a test spoil what it sends (another signing key, other claims) to see veille
refuse it. The user "at the provider" is ``claims``; consent is automatic.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc import jwt
from joserfc.jwk import RSAKey

from .browser import live_server

CLIENT_ID = "veille-dashboard"
CLIENT_SECRET = "a-client-secret-for-the-tests"


@cache
def rsa_key(kid: str) -> RSAKey:
    """An RSA key made for the tests (cached: generating one takes a moment)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class FakeProvider:
    """The provider's state: who is logged in there, and how the next ID token is spoiled."""

    now: Callable[[], int]
    issuer: str = ""
    claims: dict[str, Any] = field(default_factory=dict)
    spoil: dict[str, Any] = field(default_factory=dict)
    """Claims overriding (or, with value ``None``, removing) those of the next ID tokens."""
    signing_key: RSAKey = field(default_factory=lambda: rsa_key("k1"))
    published: list[RSAKey] = field(default_factory=lambda: [rsa_key("k1")])
    header: dict[str, Any] = field(default_factory=dict)
    """Extra or replaced JWS header fields of the next ID tokens."""
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def reset(self, **claims: Any) -> None:
        self.claims = {"sub": "u-1001", "preferred_username": "anne.dupont", **claims}
        self.spoil = {}
        self.header = {}
        self.signing_key = rsa_key("k1")
        self.published = [rsa_key("k1")]
        self.codes.clear()
        self.calls.clear()

    def id_token(self, nonce: str) -> str:
        now = self.now()
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "auth_time": now,
            **self.claims,
        }
        for name, value in self.spoil.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"alg": "RS256", "kid": self.signing_key.kid, **self.header}
        if header.get("kid") is None:
            header.pop("kid")
        return jwt.encode(header, claims, self.signing_key, algorithms=[header["alg"]])


def provider_app(provider: FakeProvider) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        provider.calls.append("discovery")
        base = provider.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + "/authorize",
            "token_endpoint": base + "/token",
            "jwks_uri": base + "/jwks",
            "end_session_endpoint": base + "/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        provider.calls.append("jwks")
        return {"keys": [k.as_dict(private=False) for k in provider.published]}

    @app.get("/authorize")
    def authorize(request: Request) -> Response:
        provider.calls.append("authorize")
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, 400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request", "detail": "PKCE required"}, 400)
        if "openid" not in q.get("scope", "").split():
            return JSONResponse({"error": "invalid_scope"}, 400)
        code = secrets.token_urlsafe(16)
        provider.codes[code] = {
            "nonce": q.get("nonce", ""),
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
        }
        back = urlencode({"code": code, "state": q.get("state", "")})
        return RedirectResponse(f"{q['redirect_uri']}?{back}", status_code=302)

    @app.post("/token")
    def token(
        grant_type: str = Form(),
        code: str = Form(),
        redirect_uri: str = Form(),
        code_verifier: str = Form(),
        authorization: str = Header(default=""),
    ) -> Response:
        provider.calls.append("token")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = provider.codes.pop(code, None)
        if grant_type != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if redirect_uri != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant", "detail": "redirect_uri"}, 400)
        digest = hashlib.sha256(code_verifier.encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "detail": "PKCE"}, 400)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": provider.id_token(grant["nonce"]),
            }
        )

    @app.get("/logout")
    def logout(request: Request) -> Response:
        provider.calls.append("logout")
        return RedirectResponse(request.query_params["post_logout_redirect_uri"], 302)

    return app


@contextmanager
def serve(now: Callable[[], int]) -> Iterator[FakeProvider]:
    """A fake provider on a free loopback port for the duration of the block."""
    provider = FakeProvider(now=now)
    provider.reset()
    with live_server(provider_app(provider)) as url:
        provider.issuer = url
        yield provider
