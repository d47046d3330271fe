"""Authentication: argon2 passwords, session cookies, bearer tokens, CSRF and login throttling.

Every route depends on :class:`Require` (a permission) or :class:`Public`; there is no third
way, so a route nobody thought about is refused (see veille.web.authz).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass
from functools import cache
from threading import Lock
from typing import TYPE_CHECKING, Final, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from veille.store.accounts import User
from veille.web.authz import Permission, allowed
from veille.web.errors import ApiError, LoginRequired
from veille.web.scope import Scope

if TYPE_CHECKING:
    from veille.web.context import Web

MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 1024
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "x-csrf-token"
CSRF_FIELD: Final = "csrf_token"
TOKEN_PREFIX: Final = "vt_"  # noqa: S105 - a visible prefix, not a secret

# OWASP's recommended argon2id settings (19 MiB, 2 passes, 1 lane): about 0.2 s on a server
# core, so a login is cheap for a person and dear for a guesser. Hashes keep their own settings,
# so raising these later still verifies the existing ones.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("a password nobody has, to spend the same time")


def hash_password(password: str) -> str:
    """An argon2id hash of a password that meets the policy (else ValueError saying why)."""
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"password must have at most {MAX_PASSWORD} characters")


def verify_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's; costs the same time when there is no such user."""
    stored = user.password_hash if user is not None else None
    try:
        return _hasher.verify(stored or _dummy_hash(), password[:MAX_PASSWORD]) and bool(stored)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str = "") -> str:
    """A fresh random secret (256 bits) for a cookie, CSRF token or API token."""
    return prefix + secrets.token_urlsafe(32)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` seconds (sliding window, in memory)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count an event; ``False`` when the key is over its limit (the event is refused)."""
        at = time.monotonic() if now is None else now
        with self._lock:
            if len(self._events) >= self.max_keys:
                self._events = {
                    k: v for k, v in self._events.items() if v and v[-1] > at - self.window
                }
            events = self._events.setdefault(key, deque())
            while events and events[0] <= at - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(at)
            return True


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, how they proved it, and what they may see."""

    user: User
    via: Literal["session", "token"]
    scope: Scope
    csrf: str = ""

    @property
    def actor(self) -> str:
        return self.user.username

    def can(self, permission: Permission) -> bool:
        return allowed(self.user.role, permission)


def session_cookie(web: Web, request: Request) -> str:
    """Cookie name: ``__Host-`` prefixed (bound to this host, Secure) when served over TLS."""
    return "__Host-veille" if web.secure(request) else "veille_session"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate(web: Web, request: Request) -> Principal | None:
    """The caller, from a bearer token or a session cookie (``None`` if neither is valid)."""
    token = _bearer(request)
    if token is not None:
        user = web.accounts.token_user(token)
        if user is None:
            raise ApiError(
                401,
                "invalid, expired or revoked API token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return Principal(user, "token", web.scope(user))
    cookie = request.cookies.get(session_cookie(web, request))
    if not cookie:
        return None
    session = web.accounts.session(cookie, idle=web.idle)
    if session is None:
        return None
    return Principal(session.user, "session", web.scope(session.user), session.csrf)


async def check_csrf(request: Request, expected: str) -> None:
    """An unsafe request made with a cookie must echo the session's CSRF token."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not expected or not same(sent, expected):
        raise ApiError(
            403, "missing or wrong CSRF token: reload the page and try again", code="csrf"
        )


class Require:
    """Route dependency: the caller must be authenticated and hold ``permission``.

    ``page=True`` sends an unauthenticated browser to the login page instead of answering 401.
    """

    def __init__(self, permission: Permission, *, page: bool = False) -> None:
        self.permission = permission
        self.page = page

    async def __call__(self, request: Request) -> Principal:
        web: Web = request.app.state.web
        principal = await run_in_threadpool(authenticate, web, request)
        if principal is None:
            if self.page:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                raise LoginRequired(target if request.method == "GET" else "/")
            raise ApiError(
                401, "log in or send an API token", headers={"WWW-Authenticate": "Bearer"}
            )
        if not principal.can(self.permission):
            raise ApiError(
                403, f"your role ({principal.user.role}) may not do this ({self.permission})"
            )
        if principal.via == "session" and request.method not in SAFE_METHODS:
            await check_csrf(request, principal.csrf)
        request.state.principal = principal
        return principal


class Public:
    """Route dependency stating that a route is deliberately open (login page, assets)."""

    async def __call__(self, request: Request) -> None:
        return None
