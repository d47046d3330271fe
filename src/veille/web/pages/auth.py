"""Login, logout and the language switch.

The login form carries a CSRF token bound to a short-lived cookie (there is no session yet);
failures are counted per account (lockout) and per client address (rate limit), and audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veille.store.accounts import User
from veille.web.auth import (
    CSRF_FIELD,
    Principal,
    Public,
    Require,
    new_secret,
    same,
    session_cookie,
    verify_password,
)
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.i18n import COOKIE, LANGUAGES, N_
from veille.web.oidc import OidcError
from veille.web.pages.render import render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "veille_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or ``https://…``): no open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login", dependencies=[Depends(Public())])
def login_page(request: Request, next: str = "/") -> Response:
    return login_form(request, safe_next(next))


def login_form(request: Request, next_path: str, message: str = "", status: int = 200) -> Response:
    """The login page (the password form, the single sign-on button, or both), with a fresh
    double-submit CSRF token for the form and an optional error ``message``."""
    web: Web = request.app.state.web
    token = new_secret()
    oidc = web.settings.web.oidc
    response = render(
        request,
        "login.html",
        status=status,
        title="Log in",
        next=next_path,
        login_csrf=token,
        error=message,
        local_login=oidc.local_login,
        oidc_button=oidc.button if oidc.enabled else "",
    )
    response.set_cookie(
        LOGIN_CSRF,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=web.secure(request),
        path="/login",
    )
    return response


def logged_in(
    web: Web,
    request: Request,
    user: User,
    next_path: str,
    flow_cookie: tuple[str, str],
    method: str,
    **details: Any,
) -> Response:
    """What every successful login does, whatever the method: reset the failure count, drop the
    login flow's cookie ``(name, path)``, open a session, audit it, and go to ``next_path``."""
    web.accounts.login_succeeded(user)
    response = RedirectResponse(next_path, status_code=303)
    name, path = flow_cookie
    response.delete_cookie(name, path=path)
    _start_session(web, request, response, user)
    web.record(
        user.username,
        "auth.login",
        user.username,
        client=client_address(request),
        method=method,
        **details,
    )
    return response


def _start_session(web: Web, request: Request, response: Response, user: User) -> None:
    """Open a session for ``user`` and set its cookie (HttpOnly, SameSite=Lax, Secure on TLS)."""
    token, csrf = new_secret(), new_secret()
    web.accounts.create_session(user, token, csrf, web.session_lifetime)
    response.set_cookie(
        session_cookie(web, request),
        token,
        max_age=int(web.session_lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=web.secure(request),
        path="/",
    )


@router.post("/login", dependencies=[Depends(Public())])
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    web: Web = request.app.state.web
    next_path = safe_next(next)
    if not web.settings.web.oidc.local_login:
        web.record(
            "anonymous",
            "auth.failed",
            username[:64],
            client=client_address(request),
            method="password",
            reason="local login is disabled",
        )
        return login_form(
            request, next_path, N_("Log in with single sign-on: passwords are not accepted."), 403
        )
    cookie = request.cookies.get(LOGIN_CSRF, "")
    if not cookie or not csrf_token or not same(cookie, csrf_token):
        return login_form(request, next_path, N_("The form expired: please try again."), 403)
    if not web.login_limiter.hit(client_address(request)):
        web.record("anonymous", "auth.throttled", username[:64], client=client_address(request))
        return login_form(request, next_path, N_("Too many attempts: wait a minute."), 429)
    user = web.accounts.user(username.strip().lower()[:64])
    now = web.clock()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        verify_password(None, password)  # same time as a real check
        web.record("anonymous", "auth.locked", user.username, client=client_address(request))
        return login_form(
            request, next_path, N_("Wrong username or password, or account locked."), 401
        )
    if user is None or user.disabled or not verify_password(user, password):
        if user is not None and not user.disabled:
            conf = web.settings.web
            web.accounts.login_failed(
                user, limit=conf.login_attempts, lock_for=timedelta(minutes=conf.lockout_minutes)
            )
        web.record("anonymous", "auth.failed", username[:64], client=client_address(request))
        return login_form(
            request, next_path, N_("Wrong username or password, or account locked."), 401
        )
    return logged_in(web, request, user, next_path, (LOGIN_CSRF, "/login"), "password")


@router.post("/logout")
async def logout(
    request: Request, who: Annotated[Principal, Depends(Require(Permission.SELF, page=True))]
) -> Response:
    web: Web = request.app.state.web
    name = session_cookie(web, request)
    token = request.cookies.get(name)
    if token:
        await run_in_threadpool(web.accounts.end_session, token)
    await run_in_threadpool(web.record, who, "auth.logout", who.actor)
    target: str | None = None
    if web.oidc is not None and who.user.oidc_subject:
        target = await run_in_threadpool(provider_logout, web, who.actor)
    response = RedirectResponse(target or "/login", status_code=303)
    response.delete_cookie(name, path="/")
    return response


def provider_logout(web: Web, actor: str) -> str | None:
    """Where to end the provider's session too (``None``: it has no end-session endpoint, or
    cannot be reached, and the local logout is all there is)."""
    assert web.oidc is not None
    base = web.settings.web.base_url.rstrip("/")
    try:
        return web.oidc.logout_url(base + "/login")
    except OidcError as error:
        web.record(actor, "auth.oidc.logout_failed", actor, reason=error.reason)
        return None


@router.get("/lang/{code}", dependencies=[Depends(Public())])
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    """Remember the chosen language in a cookie and go back."""
    if code not in LANGUAGES:
        raise ApiError(404, f"no language {code[:8]!r}")
    web: Web = request.app.state.web
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE, code, max_age=365 * 86400, samesite="lax", secure=web.secure(request), path="/"
    )
    return response
