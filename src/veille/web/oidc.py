"""OpenID Connect login: discovery, the authorization-code flow with PKCE, ID-token checks.

A small client over httpx and joserfc (the JOSE library of the Authlib project): the provider's
discovery document and keys (JWKS) are fetched and cached; a login carries a random ``state``,
``nonce`` and PKCE verifier in a short-lived signed cookie; the ID token's signature is checked
against the provider's keys and its ``iss``, ``aud``, ``azp``, ``exp``, ``iat`` and ``nonce``
against what we sent. A configured claim then decides the user's role and teams
(:func:`identity`), and :func:`admit` finds, links or creates the account.

Every refusal is an :class:`OidcError` whose ``reason`` (technical, for the audit log) says
what was wrong, and whose ``kind`` chooses the message shown to the user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from threading import Lock
from typing import Any, Final, Literal
from urllib.parse import quote, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from veille.clock import Clock, utcnow
from veille.config import OidcSettings
from veille.store.accounts import ROLES, AccountError, Accounts, Role, User, check_username

Kind = Literal["failed", "unavailable", "no_role", "no_account", "disabled"]

CALLBACK: Final = "/login/oidc/callback"
FLOW_COOKIE: Final = "veille_oidc"
MAX_RESPONSE: Final = 1 << 20
"""Largest document accepted from the provider (discovery, keys, token response)."""
MAX_TOKEN: Final = 64 * 1024
MAX_VALUES: Final = 1000
"""Most values of the roles or teams claim looked at."""
DISCOVERY_TTL: Final = 3600.0
KEYS_REFRESH: Final = 60.0
"""An unknown key id refetches the keys (rotation), at most once in this many seconds."""
RANK: Final[dict[str, int]] = {role: len(ROLES) - i for i, role in enumerate(ROLES)}


class OidcError(Exception):
    """A login that cannot go on: ``reason`` for the audit log, ``kind`` for the user."""

    def __init__(self, reason: str, kind: Kind = "failed") -> None:
        super().__init__(reason)
        self.reason = reason[:300]
        self.kind: Kind = kind


@dataclass(frozen=True, slots=True)
class Provider:
    """What the discovery document says about the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    algorithms: frozenset[str]
    basic_auth: bool
    """Authenticate at the token endpoint with HTTP Basic (else the secret goes in the form)."""


@dataclass(frozen=True, slots=True)
class Flow:
    """One login under way: what the callback must see again."""

    state: str
    nonce: str
    verifier: str
    next: str
    started: float


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the provider vouched for, mapped to veille terms."""

    subject: str
    """``issuer|sub``: the stable key of the account (a ``sub`` is unique per issuer only)."""
    username: str
    display_name: str
    role: Role
    teams: frozenset[str]
    values: tuple[str, ...]
    """The roles-claim values that were mapped (for the audit log)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _endpoint(doc: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _trusted_url(value):
        raise OidcError(f"discovery: {name} is missing or not an https URL", "unavailable")
    return value


def _trusted_url(url: str) -> bool:
    parts = urlsplit(url)
    if not parts.hostname or parts.fragment:
        return False
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return parts.scheme == "https" or (parts.scheme == "http" and loopback)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL (what a Content-Security-Policy source names)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``realm_access.roles``), or ``None``."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    """A claim as a list of strings (a single string counts as one; anything else is ignored)."""
    value = claim(claims, path)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [v for v in value[:MAX_VALUES] if isinstance(v, str) and len(v) <= 512]


def identity(conf: OidcSettings, claims: Mapping[str, Any]) -> Identity:
    """Map verified ID-token claims to a username, role and teams (refused without a role)."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise OidcError("ID token: sub is missing or longer than 255 characters")
    values = claim_values(claims, conf.roles_claim)
    mapped = [v for v in values if v in conf.roles]
    if not mapped:
        shown = ", ".join(v[:40] for v in values[:10]) or "none"
        raise OidcError(
            f"no mapped role in claim {conf.roles_claim!r} (values: {shown})", "no_role"
        )
    role = max((conf.roles[v] for v in mapped), key=RANK.__getitem__)
    team_values = claim_values(claims, conf.teams_claim or conf.roles_claim)
    teams = frozenset(t for v in team_values for t in conf.teams.get(v, ()))
    raw = claims.get(conf.username_claim)
    username = raw.strip().lower() if isinstance(raw, str) else ""
    try:
        check_username(username)
    except AccountError as error:
        raise OidcError(f"claim {conf.username_claim!r}: {error}") from None
    name = claims.get("name")
    return Identity(
        subject=f"{claims['iss']}|{sub}",
        username=username,
        display_name=name[:200] if isinstance(name, str) else "",
        role=role,
        teams=teams,
        values=tuple(mapped),
    )


def check_teams(accounts: Accounts, conf: OidcSettings) -> None:
    """At start: every team the mapping names must exist (else a clear error)."""
    if not conf.enabled:
        return
    known = {t.name for t in accounts.teams()}
    missing = sorted({t for names in conf.teams.values() for t in names} - known)
    if missing:
        raise ValueError(
            f"[web.oidc] teams names teams that do not exist: {', '.join(missing)} "
            f"(create them with `veille teams add NAME`)"
        )


def admit(accounts: Accounts, conf: OidcSettings, who: Identity) -> tuple[User, bool]:
    """The account of a vouched-for identity, found, linked or created; ``True`` if created.

    An account is found by its subject. Failing that, an account reserved for OIDC (``veille
    users add NAME --oidc``: no password, no subject yet) with the same username is linked; a
    local account with a password never is (the provider must not take over local accounts).
    Role and display name follow the provider at every login, and so do the mapped teams.
    """
    user = accounts.user_by_subject(who.subject)
    created = False
    if user is None:
        same_name = accounts.user(who.username)
        if same_name is not None:
            if same_name.oidc_subject is not None or same_name.password_hash:
                raise OidcError(
                    f"username {who.username!r} belongs to another account", "no_account"
                )
            user = accounts.update_user(same_name.username, oidc_subject=who.subject)
        elif conf.create_users:
            user = accounts.add_user(
                who.username, who.role, display_name=who.display_name, oidc_subject=who.subject
            )
            created = True
        else:
            raise OidcError(f"no account {who.username!r} and create_users is off", "no_account")
    if user.disabled:
        raise OidcError(f"account {user.username!r} is disabled", "disabled")
    changes: dict[str, Any] = {}
    if user.role != who.role:
        changes["role"] = who.role
    if who.display_name and user.display_name != who.display_name:
        changes["display_name"] = who.display_name
    if changes:
        user = accounts.update_user(user.username, **changes)
    accounts.set_memberships(user, managed=_managed(conf), wanted=who.teams)
    return user, created


def _managed(conf: OidcSettings) -> set[str]:
    return {t for names in conf.teams.values() for t in names}


class OidcClient:
    """The relying party: builds the provider redirect and checks what comes back."""

    def __init__(
        self,
        conf: OidcSettings,
        base_url: str,
        *,
        clock: Clock = utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.conf = conf
        self.redirect_uri = base_url.rstrip("/") + CALLBACK
        self.clock = clock
        self._transport = transport
        self._lock = Lock()
        self._provider: tuple[float, Provider] | None = None
        self._keys: tuple[float, KeySet] | None = None
        # Flow cookies are signed with a key derived from the client secret: stable across
        # restarts and worker processes, and unknown to anyone who could not log in anyway.
        self._flow_key = hmac.new(
            conf.client_secret.encode(), b"veille oidc flow cookie", hashlib.sha256
        ).digest()

    # -- talking to the provider ----------------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self.conf.timeout_seconds,
            follow_redirects=False,
            transport=self._transport,
            headers={"Accept": "application/json", "User-Agent": "veille-oidc"},
        )

    def _json(
        self, request: httpx.Request, what: str, refused: Kind = "unavailable"
    ) -> dict[str, Any]:
        """A JSON object from the provider (bounded); ``refused`` is the kind of an HTTP error."""
        try:
            with self._client() as client:
                response = client.send(request, stream=True)
                try:
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_RESPONSE:
                            raise OidcError(f"{what}: answer larger than 1 MiB", "unavailable")
                finally:
                    response.close()
        except httpx.HTTPError as error:
            raise OidcError(f"{what}: {type(error).__name__}: {error}", "unavailable") from None
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if response.status_code != 200:
            code = doc.get("error") if isinstance(doc, dict) else None
            detail = f" ({str(code)[:80]})" if code else ""
            raise OidcError(f"{what}: HTTP {response.status_code}{detail}", refused)
        if not isinstance(doc, dict):
            raise OidcError(f"{what}: the answer is not a JSON object", "unavailable")
        return doc

    def provider(self) -> Provider:
        """The provider's discovery document, checked, cached for an hour."""
        now = self.clock().timestamp()
        with self._lock:
            if self._provider is not None and now - self._provider[0] < DISCOVERY_TTL:
                return self._provider[1]
        url = self.conf.issuer.rstrip("/") + "/.well-known/openid-configuration"
        doc = self._json(httpx.Request("GET", url), "discovery")
        if doc.get("issuer") != self.conf.issuer:
            raise OidcError(
                f"discovery: issuer {str(doc.get('issuer'))[:100]!r} is not the configured "
                f"{self.conf.issuer!r}",
                "unavailable",
            )
        if "code" not in doc.get("response_types_supported", ["code"]):
            raise OidcError("discovery: the provider does not offer the code flow", "unavailable")
        if "S256" not in doc.get("code_challenge_methods_supported", ["S256"]):
            raise OidcError("discovery: the provider does not offer PKCE with S256", "unavailable")
        offered = doc.get("id_token_signing_alg_values_supported", ["RS256"])
        algorithms = frozenset(a for a in offered if isinstance(a, str)) & set(self.conf.algorithms)
        if not algorithms:
            raise OidcError(
                "discovery: the provider signs ID tokens with none of [web.oidc] algorithms",
                "unavailable",
            )
        methods = doc.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if "client_secret_basic" not in methods and "client_secret_post" not in methods:
            raise OidcError(
                "discovery: the token endpoint takes neither client_secret_basic nor "
                "client_secret_post",
                "unavailable",
            )
        found = Provider(
            issuer=self.conf.issuer,
            authorization_endpoint=str(_endpoint(doc, "authorization_endpoint")),
            token_endpoint=str(_endpoint(doc, "token_endpoint")),
            jwks_uri=str(_endpoint(doc, "jwks_uri")),
            end_session_endpoint=_endpoint(doc, "end_session_endpoint", required=False),
            algorithms=algorithms,
            basic_auth="client_secret_basic" in methods,
        )
        with self._lock:
            self._provider = (now, found)
        return found

    def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys; ``refresh`` refetches them (at most once a minute)."""
        now = self.clock().timestamp()
        with self._lock:
            cached = self._keys
        if cached is not None and (not refresh or now - cached[0] < KEYS_REFRESH):
            return cached[1]
        doc = self._json(httpx.Request("GET", self.provider().jwks_uri), "keys")
        keys = doc.get("keys")
        if not isinstance(keys, list):
            raise OidcError("keys: the JWKS has no list of keys", "unavailable")
        usable = [k for k in keys if isinstance(k, dict) and k.get("use", "sig") == "sig"]
        try:
            found = KeySet.import_key_set({"keys": usable})
        except (JoseError, ValueError, TypeError) as error:
            raise OidcError(f"keys: unusable JWKS ({error})", "unavailable") from None
        with self._lock:
            self._keys = (now, found)
        return found

    # -- the flow ---------------------------------------------------------------------------

    def start(self, next_path: str) -> tuple[str, str]:
        """Where to send the browser, and the signed cookie remembering this login."""
        provider = self.provider()
        flow = Flow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),
            next=next_path,
            started=self.clock().timestamp(),
        )
        challenge = _b64(hashlib.sha256(flow.verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.conf.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": " ".join(self.conf.scopes),
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if urlsplit(provider.authorization_endpoint).query else "?"
        return provider.authorization_endpoint + separator + query, self._seal(flow)

    def _seal(self, flow: Flow) -> str:
        body = _b64(
            json.dumps([flow.state, flow.nonce, flow.verifier, flow.next, flow.started]).encode()
        )
        return body + "." + _b64(hmac.new(self._flow_key, body.encode(), hashlib.sha256).digest())

    def flow(self, cookie: str | None) -> Flow:
        """The login under way, from its cookie (missing, forged or too old: refused)."""
        if not cookie or len(cookie) > 4096 or "." not in cookie:
            raise OidcError("no login under way in this browser (state cookie missing)")
        body, _, mac = cookie.partition(".")
        expected = _b64(hmac.new(self._flow_key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            raise OidcError("the state cookie is not ours (bad signature)")
        try:
            state, nonce, verifier, next_path, started = json.loads(_unb64(body))
            flow = Flow(str(state), str(nonce), str(verifier), str(next_path), float(started))
        except (ValueError, TypeError):
            raise OidcError("the state cookie is unreadable") from None
        age = self.clock().timestamp() - flow.started
        if not 0 <= age <= self.conf.max_age_seconds:
            raise OidcError(f"the login took too long ({age:.0f} s)")
        return flow

    def finish(self, flow: Flow, params: Mapping[str, str]) -> dict[str, Any]:
        """Check the provider's answer, redeem the code, return the verified ID-token claims."""
        state = params.get("state", "")
        if not hmac.compare_digest(state.encode(), flow.state.encode()):
            raise OidcError("state mismatch: the answer is not for the login this browser began")
        if "error" in params:
            error = params["error"][:60]
            detail = params.get("error_description", "")[:160]
            raise OidcError(f"the provider refused: {error} {detail}".strip())
        code = params.get("code", "")
        if not code or len(code) > 4096:
            raise OidcError("the provider's answer has no code")
        provider = self.provider()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": flow.verifier,
        }
        headers = {}
        if provider.basic_auth:
            # RFC 6749 §2.3.1: both parts are form-encoded before the Basic encoding.
            pair = (
                f"{quote(self.conf.client_id, safe='')}:{quote(self.conf.client_secret, safe='')}"
            )
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.conf.client_id, "client_secret": self.conf.client_secret}
        request = httpx.Request("POST", provider.token_endpoint, data=form, headers=headers)
        answer = self._json(request, "token endpoint", "failed")
        id_token = answer.get("id_token")
        if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_TOKEN:
            raise OidcError("the token endpoint sent no ID token")
        return self.verify(id_token, nonce=flow.nonce)

    def verify(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce hold."""
        provider = self.provider()
        header = _header(id_token)
        alg = header.get("alg")
        if alg not in provider.algorithms:
            raise OidcError(f"ID token signed with {str(alg)[:20]!r}, which is not accepted")
        kid = header.get("kid")
        keys = self.keys()
        if kid is not None and not any(k.kid == kid for k in keys):
            keys = self.keys(refresh=True)  # the provider may have rotated its keys
        try:
            token = self._decode(id_token, keys, str(alg), kid)
        except BadSignatureError:
            raise OidcError("ID token: bad signature") from None
        except InvalidKeyIdError:
            raise OidcError(f"ID token: no published key has id {str(kid)[:60]!r}") from None
        except JoseError as error:
            raise OidcError(f"ID token: {error}") from None
        claims = token.claims
        now = int(self.clock().timestamp())
        registry = jwt.JWTClaimsRegistry(
            now=now,
            leeway=self.conf.leeway_seconds,
            iss={"essential": True, "value": provider.issuer},
            aud={"essential": True, "value": self.conf.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise OidcError("ID token: expired (exp)") from None
        except MissingClaimError as error:
            raise OidcError(f"ID token: missing claim {error.claim}") from None
        except ClaimError as error:
            raise OidcError(f"ID token: wrong {error.claim}") from None
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.conf.client_id:
            raise OidcError("ID token: several audiences and azp is not our client id")
        if claims["iat"] < now - self.conf.max_age_seconds - self.conf.leeway_seconds:
            raise OidcError("ID token: issued too long ago (iat)")
        return claims

    @staticmethod
    def _decode(id_token: str, keys: KeySet, alg: str, kid: Any) -> jwt.Token:
        if kid is not None or len(keys.keys) == 1:
            return jwt.decode(id_token, keys, algorithms=[alg])
        # No key id: try each published key (some providers publish one key and no kid).
        failure: JoseError = BadSignatureError()
        for key in keys:
            try:
                return jwt.decode(id_token, key, algorithms=[alg])
            except JoseError as error:
                failure = error
        raise failure

    def logout_url(self, post_logout: str) -> str | None:
        """The provider's end-session URL (RP-initiated logout), when it has one."""
        if not self.conf.provider_logout:
            return None
        end = self.provider().end_session_endpoint
        # The page's CSP lets forms go to the issuer's origin only (veille.web.security).
        if end is None or origin(end) != origin(self.conf.issuer):
            return None
        query = urlencode(
            {"client_id": self.conf.client_id, "post_logout_redirect_uri": post_logout}
        )
        return end + ("&" if urlsplit(end).query else "?") + query


def _header(id_token: str) -> dict[str, Any]:
    parts = id_token.split(".")
    if len(parts) != 3:
        raise OidcError("ID token: not a signed JWT (compact JWS)")
    try:
        header = json.loads(_unb64(parts[0]))
    except ValueError:
        header = None
    if not isinstance(header, dict):
        raise OidcError("ID token: unreadable header")
    return header
